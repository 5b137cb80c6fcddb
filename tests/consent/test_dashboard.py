"""The school's dashboard: connections, requests, revocation, history, receipts, exposure."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AccessRequest, AccessRequestStatus, Grant, Role, User
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, sign_in

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def connected(client, make_app, school_admin, resource_server) -> dict:
    """An application the school approved through the OAuth flow, with a live token."""
    application, secret = make_app(
        required={"StudentLite": "Names on the register.", "StudentMedical": "Medical alerts."},
        optional={"Contact": "To phone parents."},
    )
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return {"application": application, "secret": secret, "token": flow.tokens()}


def is_active(client, resource_server, token: str) -> bool:
    server, secret = resource_server
    return client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(server.client_id, secret)
    ).get_json()["active"]


def test_a_school_admin_lands_on_the_dashboard_of_their_school(
    client, school_admin, school
) -> None:
    response = sign_in(client, school_admin.email)
    assert response.headers["Location"] == "/home"
    assert client.get("/home").headers["Location"] == "/schools"
    assert client.get("/schools").headers["Location"] == f"/schools/{school.urn}"
    page = client.get(f"/schools/{school.urn}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "No application has access" in page.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client, school) -> None:
    response = client.get(f"/schools/{school.urn}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_another_schools_dashboard_is_not_found(client, school_admin, make_school) -> None:
    other = make_school(name="Elsewhere")
    sign_in(client, school_admin.email)
    for path in ("", "/history", "/exposure"):
        assert client.get(f"/schools/{other.urn}{path}").status_code == 404


def test_the_dashboard_shows_each_connection(client, connected, school) -> None:
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert connected["application"].name in html
    assert "StudentLite" in html
    assert "Version" in html
    assert "Last used data" in html
    assert "Withdraw" in html


def test_withdrawing_access_stops_every_token_at_once(
    client, connected, school, resource_server
) -> None:
    token = connected["token"]
    assert is_active(client, resource_server, token["access_token"])
    page = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    with client.application.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    response = client.post(
        f"/schools/{school.urn}/connections/{grant_id}/revoke",
        data={"csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    assert not is_active(client, resource_server, token["access_token"])
    assert not is_active(client, resource_server, token["refresh_token"])
    assert "Access withdrawn" in client.get(f"/schools/{school.urn}").get_data(as_text=True)


def test_withdrawing_needs_a_csrf_token(client, connected, school, resource_server) -> None:
    with client.application.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    response = client.post(f"/schools/{school.urn}/connections/{grant_id}/revoke")
    assert response.status_code == 400
    assert is_active(client, resource_server, connected["token"]["access_token"])


def test_an_admin_without_the_approver_right_sees_but_cannot_withdraw(
    app, connected, school, make_user, resource_server
) -> None:
    # View-only: neither approving nor managing (a manager may withdraw a connection).
    viewer = make_user(Role.SCHOOL_ADMIN, school=school, can_approve=False, can_manage=False)
    other_browser = app.test_client()
    sign_in(other_browser, viewer.email)
    page = other_browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert connected["application"].name in page
    assert "Withdraw" not in page
    with app.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    response = other_browser.post(
        f"/schools/{school.urn}/connections/{grant_id}/revoke",
        data={"csrf_token": csrf_token(page)},
    )
    assert response.status_code == 403
    assert is_active(other_browser, resource_server, connected["token"]["access_token"])


@pytest.fixture
def pending(app, make_app, school) -> int:
    """A Data Access Request the vendor sent without a redirect."""
    from authserver.domain import grants
    from authserver.models import Application, School

    application, _ = make_app(
        name="Lunchbox",
        required={"StudentLite": "Names.", "DietaryNeeds": "Allergies."},
        optional={"StudentMedical": "Medical alerts."},
    )
    with app.app_context():
        request, _ = grants.request_access(
            db.session.get(Application, application.id),
            db.session.get(School, school.id),
            actor="application test",
        )
        db.session.commit()
        return request.id


def test_a_pending_request_opens_the_consent_screen_and_can_be_approved(
    app, client, school_admin, school, pending
) -> None:
    sign_in(client, school_admin.email)
    dashboard = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Requests waiting for a decision (1)" in dashboard
    url = f"/schools/{school.urn}/requests/{pending}"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "DietaryNeeds" in html
    shared = [v for v in __import__("re").findall(r'name="shared_fields" value="([^"]+)"', html)]
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(html),
            "school": school.urn,
            "optional_scopes": ["StudentMedical"],
            "shared_fields": shared,
            "approve": "1",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        request = db.session.get(AccessRequest, pending)
        assert request.status == AccessRequestStatus.APPROVED
        assert request.grant_version == 1
        grant = db.session.scalar(select(Grant))
        assert set(grant.scopes) == {"StudentLite", "DietaryNeeds", "StudentMedical"}
    assert client.get(url).status_code == 302  # answered: back to the dashboard


def test_a_pending_request_can_be_refused(app, client, school_admin, school, pending) -> None:
    sign_in(client, school_admin.email)
    url = f"/schools/{school.urn}/requests/{pending}"
    html = client.get(url).get_data(as_text=True)
    response = client.post(
        url, data={"csrf_token": csrf_token(html), "school": school.urn, "deny": "1"}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(AccessRequest, pending).status == AccessRequestStatus.REJECTED
        assert db.session.scalar(select(func.count()).select_from(Grant)) == 0


def test_history_lists_filters_and_exports(client, connected, school) -> None:
    html = client.get(f"/schools/{school.urn}/history").get_data(as_text=True)
    assert "grant:approved" in html
    assert connected["application"].name in html
    application_id = connected["application"].id
    filtered = client.get(f"/schools/{school.urn}/history?application={application_id + 999}")
    assert "grant:approved" not in filtered.get_data(as_text=True)
    future = client.get(f"/schools/{school.urn}/history?since=2999-01-01")
    assert "grant:approved" not in future.get_data(as_text=True)
    export = client.get(f"/schools/{school.urn}/history?format=csv")
    assert export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert any(row["action"] == "grant:approved" for row in rows)


def test_a_consent_receipt_is_signed_and_verifiable(app, client, connected, school) -> None:
    from authserver.receipts import verify_receipt

    with app.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    response = client.get(f"/schools/{school.urn}/connections/{grant_id}/receipt")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    signed = json.loads(response.get_data(as_text=True))
    receipt = signed["receipt"]
    assert receipt["school"]["urn"] == school.urn
    assert receipt["application"]["client_id"] == connected["application"].client_id
    assert receipt["grant"]["version"] == 1
    assert {s["name"] for s in receipt["grant"]["scopes"]} == {"StudentLite", "StudentMedical"}
    assert "student.forename" in receipt["grant"]["fields"]
    with app.app_context():
        assert verify_receipt(signed)
        tampered = json.loads(json.dumps(signed))
        tampered["receipt"]["grant"]["scopes"] = []
        assert not verify_receipt(tampered)
    # Anyone can check the signature against the published receipt keys (not the JWKS of
    # access tokens, whose retired keys are dropped).
    from joserfc import jws
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(client.get("/.well-known/receipt-keys.json").get_json())
    assert json.loads(jws.deserialize_compact(signed["signature"], keys).payload) == receipt
    kid = jws.extract_compact(signed["signature"].encode()).headers()["kid"]
    assert kid not in {key["kid"] for key in client.get("/oauth/jwks").get_json()["keys"]}


def test_exposure_shows_who_may_read_each_sensitive_detail(client, connected, school) -> None:
    html = client.get(f"/schools/{school.urn}/exposure").get_data(as_text=True)
    assert "StudentMedical" in html
    sensitive = html.split('id="sensitive-heading"')[1].split("</table>")[0]
    assert connected["application"].name in sensitive


def test_a_trust_admin_sees_a_summary_across_schools(app, client, make_school, make_user) -> None:
    from authserver.models import Trust

    with app.app_context():
        trust = Trust(name="Northfield Trust")
        db.session.add(trust)
        db.session.commit()
        trust_id = trust.id
    first = make_school(name="First Academy", trust_id=trust_id)
    second = make_school(name="Second Academy", trust_id=trust_id)
    admin = make_user(Role.TRUST_ADMIN, trust=trust, can_approve=True)
    sign_in(client, admin.email)
    html = client.get("/schools").get_data(as_text=True)
    assert "Northfield Trust" in html
    assert first.name in html
    assert second.name in html
    assert "All schools" in html
    assert client.get(f"/schools/{second.urn}").status_code == 200


def test_pages_need_the_right_user(app, client, vendor, make_user, school) -> None:
    vendor_admin = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    sign_in(client, vendor_admin.email)
    assert client.get(f"/schools/{school.urn}").status_code == 404
    with app.app_context():
        assert db.session.get(User, vendor_admin.id).administered_school_ids() == set()


def test_a_platform_admin_sees_totals_but_no_school(client, make_user, school, connected) -> None:
    operator = make_user(Role.PLATFORM_ADMIN)
    other = client.application.test_client()
    sign_in(other, operator.email)
    assert other.get("/home").headers["Location"] == "/platform"
    html = other.get("/platform").get_data(as_text=True)
    assert "Connections in force" in html
    assert other.get(f"/schools/{school.urn}").status_code == 404


def test_only_a_platform_admin_sees_the_platform_page(client, school_admin) -> None:
    sign_in(client, school_admin.email)
    assert client.get("/platform").status_code == 404
