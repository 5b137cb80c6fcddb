"""A school the DfE register says has closed takes no new connections: the vendor's API and
pages, and the consent screen, say so; its pages say it is closed. An establishment that is in
the register but not on the platform is no school a vendor can ask."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from authserver.domain import establishments as register
from authserver.extensions import db
from authserver.models import AccessRequest, Grant, School
from authserver.models.columns import utcnow
from tests.api.test_connections import VendorClient
from tests.consent.test_vendor_access import ask as ask_on_the_page
from tests.oauth_flow import csrf_token, sign_in
from tests.register_files import register_csv, row


def close(app, school) -> None:
    with app.app_context():
        db.session.execute(update(School).where(School.id == school.id).values(closed_at=utcnow()))
        db.session.commit()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def vendor_client(client, make_app) -> VendorClient:
    application, secret = make_app()
    return VendorClient(client, application, secret)


def test_the_api_refuses_a_request_to_a_closed_school(app, vendor_client, school) -> None:
    close(app, school)
    response = vendor_client.ask(school.urn)
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "school_closed"
    assert "has closed, according to the DfE register" in body["error_description"]
    assert count(app, AccessRequest) == 0


def test_the_register_closing_a_school_closes_it_to_new_requests(
    app, vendor_client, school
) -> None:
    assert vendor_client.ask(school.urn).status_code == 201
    with app.app_context():
        rows = register.read_register(
            register_csv([row(school.urn, school.name, **{"EstablishmentStatus (name)": "Closed"})])
        )
        register.import_register(rows, actor="test")
        db.session.commit()
    assert vendor_client.ask(school.urn).get_json()["error"] == "school_closed"


def test_the_vendors_page_refuses_a_closed_school(app, signed_in, make_app, school) -> None:
    close(app, school)
    application, _ = make_app()
    response = ask_on_the_page(signed_in, application, school.urn)
    assert response.status_code == 400
    assert "has closed, according to the DfE register" in response.get_data(as_text=True)
    assert count(app, AccessRequest) == 0


def test_the_consent_screen_of_a_closed_school_says_it_has_closed(app, flow, school) -> None:
    close(app, school)
    response = flow.start(scope="StudentLite Attendance")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "This school has closed" in html
    assert "no application can connect to it" in html
    assert count(app, Grant) == 0


def test_the_schools_pages_say_it_has_closed(app, client, school, school_admin) -> None:
    close(app, school)
    assert sign_in(client, school_admin.email).status_code == 302
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Test Academy has closed" in html


def test_an_establishment_not_onboarded_is_no_school_to_ask(app, vendor_client) -> None:
    with app.app_context():
        register.import_register(register.read_register(register_csv([row("140101")])), actor="t")
        db.session.commit()
    response = vendor_client.ask("140101")
    assert response.status_code == 404
    assert count(app, AccessRequest) == 0


def test_a_request_waiting_when_the_school_closed_cannot_be_approved(
    app, client, school, school_admin, vendor_client
) -> None:
    pending = vendor_client.ask(school.urn).get_json()["id"]
    assert sign_in(client, school_admin.email).status_code == 302
    url = f"/schools/{school.urn}/requests/{pending}"
    page = client.get(url).get_data(as_text=True)
    close(app, school)
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(page),
            "school": school.urn,
            "shared_fields": re.findall(r'name="shared_fields" value="([^"]+)"', page),
            "approve": "1",
        },
    )
    assert response.status_code == 400
    assert "has closed, according to the DfE register" in response.get_data(as_text=True)
    assert count(app, Grant) == 0
