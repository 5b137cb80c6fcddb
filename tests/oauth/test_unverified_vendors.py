"""An unverified vendor's application may try demo schools but ask a real school for nothing:
every path (authorization, PAR, access requests by API and page, school-secret tokens) refuses
it with a clear error, and lets it through on a demo school."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from authserver.extensions import db
from authserver.models import Role, School
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, pkce_pair, query_of, sign_in

CALLBACK = "https://fresh.example.com/callback"


@pytest.fixture
def fresh_app(make_app, unverified_vendor):
    """An application of a vendor that signed up and waits: (application, client_secret)."""
    return make_app(owner=unverified_vendor, name="Fresh Homework", redirect_uris=[CALLBACK])


@pytest.fixture
def demo_school(make_school):
    return make_school(name="Demo Academy", is_demo=True)


@pytest.fixture
def demo_admin(make_user, demo_school):
    return make_user(Role.SCHOOL_ADMIN, school=demo_school, can_approve=True)


def flow_for(client, fresh_app) -> OAuthFlow:
    application, secret = fresh_app
    return OAuthFlow(client, application.client_id, secret, CALLBACK)


class Vendor:
    """The unverified vendor's server: its own token for the management API."""

    def __init__(self, client, fresh_app) -> None:
        self.client = client
        self.application, self.secret = fresh_app
        self.basic = basic_auth(self.application.client_id, self.secret)
        answer = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=self.basic
        )
        self.bearer = {"Authorization": "Bearer " + answer.get_json()["access_token"]}

    def ask(self, urn: str):
        return self.client.post(
            "/api/v1/access-requests", json={"school_urn": urn}, headers=self.bearer
        )

    def push(self, **extra: str):
        _, challenge = pkce_pair()
        data = {
            "response_type": "code",
            "redirect_uri": CALLBACK,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return self.client.post("/oauth/par", data=data, headers=self.basic)


def test_authorize_at_a_real_school_shows_a_page_and_offers_the_way_back(
    client, fresh_app, school_admin
) -> None:
    flow = flow_for(client, fresh_app)
    flow.sign_in(school_admin.email)
    page = flow.start()
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "This application cannot connect to your school yet" in html
    assert "Fresh Start Apps Ltd is not verified yet" in html
    back = re.search(r'href="([^"]*error=access_denied[^"]*)"', html).group(1).replace("&amp;", "&")
    # The way back tells the application, as RFC 6749 §4.1.2.1 has it.
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["error"] == "access_denied"
    assert query["state"] == flow.state
    assert "not verified" in query["error_description"]
    assert "iss" in query


def test_authorize_naming_a_real_school_is_refused_even_among_demo_ones(
    app, client, fresh_app, school, school_admin, demo_school
) -> None:
    from authserver.models import RoleAssignment, User

    with app.app_context():  # the admin also looks after a demo school
        admin = db.session.get(User, school_admin.id)
        admin.roles.append(
            RoleAssignment(role=Role.SCHOOL_ADMIN, school_id=demo_school.id, can_approve=True)
        )
        db.session.commit()
    flow = flow_for(client, fresh_app)
    flow.sign_in(school_admin.email)
    assert flow.start(school=school.urn).status_code == 403
    # Without a school named, only the demo school is offered.
    page = flow.start()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'name="school" value="{demo_school.urn}"' in html
    assert school.urn not in html


def test_a_demo_school_can_approve_and_tokens_follow(client, fresh_app, demo_admin) -> None:
    flow = flow_for(client, fresh_app)
    flow.sign_in(demo_admin.email)
    page = flow.start()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "is not verified by the platform" in html
    assert "ZA123456" in html  # the declared details are shown as they are
    tokens = flow.exchange(query_of(flow.decide())["code"])
    assert tokens.status_code == 200
    assert tokens.get_json()["scope"]


@pytest.mark.parametrize("demo", [False, True], ids=["real school", "demo school"])
def test_par_naming_a_school(client, fresh_app, school, demo_school, demo) -> None:
    urn = demo_school.urn if demo else school.urn
    response = Vendor(client, fresh_app).push(school=urn)
    if demo:
        assert response.status_code == 201
        return
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "unauthorized_client"
    assert "not verified" in body["error_description"]


def test_par_naming_no_school_is_kept_and_refused_at_the_real_school(
    client, fresh_app, school_admin
) -> None:
    vendor = Vendor(client, fresh_app)
    pushed = vendor.push(state="s1")
    assert pushed.status_code == 201
    sign_in(client, school_admin.email)
    application, _ = fresh_app
    page = client.get(
        "/oauth/authorize",
        query_string={
            "client_id": application.client_id,
            "request_uri": pushed.json["request_uri"],
        },
    )
    assert page.status_code == 403
    assert "cannot connect to your school yet" in page.get_data(as_text=True)


@pytest.mark.parametrize("demo", [False, True], ids=["real school", "demo school"])
def test_access_request_by_api(client, fresh_app, school, demo_school, demo) -> None:
    response = Vendor(client, fresh_app).ask(demo_school.urn if demo else school.urn)
    if demo:
        assert response.status_code == 201
        return
    assert response.status_code == 403
    assert response.get_json()["error"] == "unauthorized_client"
    assert "demo schools" in response.get_json()["error_description"]


@pytest.mark.parametrize("demo", [False, True], ids=["real school", "demo school"])
def test_access_request_by_page(
    client, make_user, unverified_vendor, fresh_app, school, demo_school, demo
) -> None:
    application, _ = fresh_app
    developer = make_user(Role.VENDOR_ADMIN, vendor=unverified_vendor)
    sign_in(client, developer.email)
    token = csrf_token(client.get("/vendor").get_data(as_text=True))
    prefix = f"application-{application.id}"
    response = client.post(
        f"/vendor/applications/{application.id}/access-requests",
        data={
            "csrf_token": token,
            f"{prefix}-urn": demo_school.urn if demo else school.urn,
        },
    )
    if demo:
        assert response.status_code == 302
        return
    assert response.status_code == 400
    assert "Fresh Start Apps Ltd is not verified yet" in response.get_data(as_text=True)


def test_the_school_secret_grant_refuses_a_vendor_never_verified_at_a_real_school(
    app, client, fresh_app, demo_school, demo_admin
) -> None:
    from authserver.domain import grants
    from authserver.models import Application, User

    with app.app_context():
        application = db.session.get(Application, fresh_app[0].id)
        target = db.session.get(School, demo_school.id)
        grants.approve(
            application,
            target,
            approver=db.session.get(User, demo_admin.id),
            choice=grants.scope_choice(application, None),
        )
        db.session.commit()
    vendor = Vendor(client, fresh_app)
    claimed = client.post(f"/api/v1/connections/{demo_school.id}/secret", headers=vendor.bearer)
    assert claimed.status_code == 201
    secret = claimed.get_json()["school_secret"]

    def token():
        return client.post(
            "/oauth/token",
            headers=vendor.basic,
            data={
                "grant_type": SCHOOL_SECRET_GRANT_TYPE,
                "school_id": str(demo_school.id),
                "school_secret": secret,
            },
        )

    assert token().status_code == 200
    with app.app_context():  # the operator finds the school is a real one after all
        db.session.execute(update(School).where(School.id == demo_school.id).values(is_demo=False))
        db.session.commit()
    refused = token()
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "unauthorized_client"
    assert "not verified" in refused.get_json()["error_description"]
    again = client.post(f"/api/v1/connections/{demo_school.id}/secret", headers=vendor.bearer)
    assert again.status_code == 403
    assert again.get_json()["error"] == "unauthorized_client"
