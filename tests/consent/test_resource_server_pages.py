"""The platform admin's resource server pages, and the vendor's choice of resource servers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import Application, AuditEvent, ResourceServer, Role
from tests.consent.vendor_forms import NEW, registration
from tests.oauth_flow import basic_auth, csrf_token, sign_in

PAGE = "/platform/resource-servers"
SECRET_PATTERN = re.compile(r'id="client-secret" value="([^"]+)"')
CLIENT_ID_PATTERN = re.compile(r'id="client-id" value="([^"]+)"')


@pytest.fixture
def operator(client, make_user):
    """A client signed in as a platform admin."""
    user = make_user(Role.PLATFORM_ADMIN)
    assert sign_in(client, user.email).status_code == 302
    return client


def register(client, name: str = "Homework API", url: str = "https://homework.example.net/api"):
    page = client.get(PAGE).get_data(as_text=True)
    return client.post(PAGE, data={"csrf_token": csrf_token(page), "name": name, "url": url})


def introspect(client, client_id: str, secret: str):
    return client.post(
        "/oauth/introspect", data={"token": "x" * 43}, headers=basic_auth(client_id, secret)
    )


def actions(app) -> list[str]:
    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_registering_shows_the_secret_once_and_keeps_a_digest(app, operator) -> None:
    response = register(operator)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = SECRET_PATTERN.search(html).group(1)
    client_id = CLIENT_ID_PATTERN.search(html).group(1)
    assert client_id.startswith("rs_")
    assert introspect(operator, client_id, secret).status_code == 200
    listing = operator.get(PAGE).get_data(as_text=True)
    assert client_id in listing
    assert "https://homework.example.net/api" in listing
    assert secret not in listing
    with app.app_context():
        server = db.session.scalar(
            select(ResourceServer).where(ResourceServer.client_id == client_id)
        )
        assert server.client_secret_digest != secret
        assert server.url == "https://homework.example.net/api"
    assert "resource_server:registered" in actions(app)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the resource server&#39;s URL."),
        ("http://homework.example.net/api", "must use https"),
        ("https://homework.example.net/api#part", "must not contain a #fragment"),
        ("https://homework.example.net/api?x=1", "must not contain a ?query"),
        ("homework.example.net/api", "must be an absolute https URL"),
        ("https://user@homework.example.net/api", "must not contain a user name"),
        ("http://127.0.0.1:5000/api/v1", "the platform&#39;s own API"),
    ],
)
def test_a_bad_url_is_shown_on_the_page(app, operator, url, message) -> None:
    response = register(operator, url=url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert message in html
    with app.app_context():
        assert (
            db.session.scalar(select(ResourceServer).where(ResourceServer.name == "Homework API"))
            is None
        )


def test_loopback_http_is_allowed_outside_production(operator) -> None:
    assert register(operator, url="http://127.0.0.1:9000/api").status_code == 201


def test_the_same_url_cannot_be_registered_twice(operator) -> None:
    assert register(operator).status_code == 201
    again = register(operator, name="Another")
    assert again.status_code == 400
    assert "already registered" in again.get_data(as_text=True)


def test_registering_needs_a_csrf_token(app, operator) -> None:
    response = operator.post(PAGE, data={"name": "X", "url": "https://x.example.net/api"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(ResourceServer)) is None


@pytest.mark.parametrize("role", [Role.VENDOR_ADMIN, Role.SCHOOL_ADMIN])
def test_only_platform_admins_see_the_pages(client, make_user, vendor, school, role) -> None:
    organisation = {"vendor": vendor} if role is Role.VENDOR_ADMIN else {"school": school}
    user = make_user(role, **organisation)
    sign_in(client, user.email)
    assert client.get(PAGE).status_code == 404
    token = csrf_token(client.get("/").get_data(as_text=True))  # the sign-out form's
    posted = client.post(PAGE, data={"csrf_token": token, "name": "X", "url": "https://x.test/a"})
    assert posted.status_code == 404


def test_signed_out_people_are_sent_to_sign_in(client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def rotate(client, client_id: str, overlap: str):
    path = f"{PAGE}/{client_id}/rotate"
    page = client.get(path)
    assert page.status_code == 200
    return client.post(
        path,
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "overlap_minutes": overlap},
    )


def test_rotating_at_once_ends_the_old_secret(app, operator, resource_server) -> None:
    server, old = resource_server
    response = rotate(operator, server.client_id, "0")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    new = SECRET_PATTERN.search(html).group(1)
    assert "has stopped working" in html
    assert introspect(operator, server.client_id, old).status_code == 401
    assert introspect(operator, server.client_id, new).status_code == 200
    assert "resource_server:secret_rotated" in actions(app)


def test_rotating_with_an_overlap_keeps_the_old_secret_for_an_hour(
    app, operator, resource_server
) -> None:
    server, old = resource_server
    html = rotate(operator, server.client_id, "60").get_data(as_text=True)
    new = SECRET_PATTERN.search(html).group(1)
    assert "keeps working for 60 minutes" in html
    assert introspect(operator, server.client_id, old).status_code == 200
    assert introspect(operator, server.client_id, new).status_code == 200
    with app.app_context():
        row = db.session.get(ResourceServer, server.id)
        # An hour later the old one is refused.
        later = row.previous_secret_expires_at + dt.timedelta(seconds=1)
        assert not row.client_secret_matches(old, now=later)
        assert row.client_secret_matches(new, now=later)


def test_a_made_up_overlap_is_refused(operator, resource_server) -> None:
    server, old = resource_server
    response = rotate(operator, server.client_id, "100000")
    assert response.status_code == 400
    assert introspect(operator, server.client_id, old).status_code == 200


def test_removing_ends_its_secret_and_its_declarations(
    app, operator, resource_server, vendor_app
) -> None:
    server, secret = resource_server
    application, _ = vendor_app
    path = f"{PAGE}/{server.client_id}/remove"
    page = operator.get(path)
    assert "Its secret stops working" in page.get_data(as_text=True)
    response = operator.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert introspect(operator, server.client_id, secret).status_code == 401
    assert operator.get(path).status_code == 404
    with app.app_context():
        assert db.session.get(Application, application.id).resource_servers == []
    assert "resource_server:removed" in actions(app)


def test_the_platform_overview_links_to_the_page(operator) -> None:
    assert PAGE in operator.get("/platform").get_data(as_text=True)


# --- The vendor's choice -----------------------------------------------------------------------


def ticked(html: str, value: str) -> bool:
    tag = re.search(rf'<input[^>]*value="{value}"[^>]*>', html)
    assert tag, f"no tick box for {value}"
    return " checked" in tag.group(0)


@pytest.fixture
def vendor_signed_in(client, make_user, vendor):
    user = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    assert sign_in(client, user.email).status_code == 302
    return client


def test_a_vendor_ticks_the_resource_servers_its_application_calls(
    app, vendor_signed_in, make_resource_server
) -> None:
    homework, _ = make_resource_server(name="Homework API", url="https://homework.example.net/api")
    other, _ = make_resource_server(name="Other API", url="https://other.example.net/api")
    page = vendor_signed_in.get(NEW).get_data(as_text=True)
    assert "Homework API (https://homework.example.net/api)" in page
    assert "/api/v1" in page  # the platform's API, always allowed
    response = vendor_signed_in.post(
        NEW,
        data=registration(csrf_token=csrf_token(page), resource_servers=[homework.client_id]),
    )
    assert response.status_code == 201
    with app.app_context():
        application = db.session.scalar(select(Application).where(Application.name == "Lunch Line"))
        assert [s.client_id for s in application.resource_servers] == [homework.client_id]
        edit = f"/vendor/applications/{application.id}/edit"
    html = vendor_signed_in.get(edit).get_data(as_text=True)
    assert ticked(html, homework.client_id)
    assert not ticked(html, other.client_id)

    data = registration(csrf_token=csrf_token(html), resource_servers=[other.client_id])
    assert vendor_signed_in.post(edit, data=data).status_code == 302
    with app.app_context():
        application = db.session.scalar(select(Application).where(Application.name == "Lunch Line"))
        assert [s.client_id for s in application.resource_servers] == [other.client_id]


def test_an_unknown_resource_server_is_refused_on_the_form(app, vendor_signed_in) -> None:
    page = vendor_signed_in.get(NEW).get_data(as_text=True)
    response = vendor_signed_in.post(
        NEW, data=registration(csrf_token=csrf_token(page), resource_servers=["rs_made_up"])
    )
    assert response.status_code == 400
    assert "There is a problem" in response.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalar(select(Application).where(Application.name == "Lunch Line")) is None
        )
