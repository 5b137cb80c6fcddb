"""Per-school access over HTTP: requests, connections, school secrets, scope changes, revocation,
narrowing, giving up and expiry, as the vendor and the school meet them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import AccessRequest, AccessRequestStatus, AuditEvent, Grant, SchoolSecret
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import basic_auth, csrf_token, sign_in


class VendorClient:
    """The vendor's server: its own token for the management API, then school tokens."""

    def __init__(self, client, application, secret) -> None:
        self.client, self.application, self.secret = client, application, secret
        response = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=self.basic
        )
        assert response.status_code == 200
        self.bearer = {"Authorization": "Bearer " + response.get_json()["access_token"]}

    @property
    def basic(self) -> dict[str, str]:
        return basic_auth(self.application.client_id, self.secret)

    def ask(self, urn: str):
        return self.client.post(
            "/api/v1/access-requests", json={"school_urn": urn}, headers=self.bearer
        )

    def connections(self, **query: str):
        return self.client.get("/api/v1/connections", query_string=query, headers=self.bearer)

    def claim(self, school_id: int):
        return self.client.post(f"/api/v1/connections/{school_id}/secret", headers=self.bearer)

    def token(self, school_id: int, school_secret: str, **extra: str):
        return self.client.post(
            "/oauth/token",
            headers=self.basic,
            data={
                "grant_type": SCHOOL_SECRET_GRANT_TYPE,
                "school_id": str(school_id),
                "school_secret": school_secret,
                **extra,
            },
        )

    def introspect(self, token: str) -> dict:
        return self.client.post(
            "/oauth/introspect", data={"token": token}, headers=self.basic
        ).get_json()


@pytest.fixture
def vendor_client(client, make_app) -> VendorClient:
    application, secret = make_app(
        required={"StudentLite": "Names.", "Attendance": "Registers."},
        optional={"Contact": "To phone parents."},
    )
    return VendorClient(client, application, secret)


def approve(
    app, school_admin, school, application, *, optional=(), restrictions=None, expires_at=None
) -> Grant:
    """The school approves through its domain, as the consent screen does."""
    from authserver.domain import grants
    from authserver.models import Application, School, User

    with app.app_context():
        application = db.session.get(Application, application.id)
        school = db.session.get(School, school.id)
        grant = grants.find_grant(application, school)
        request = grants.pending_request(application, school)
        choice = (
            grants.choice_for_request(request, grant)
            if request is not None
            else grants.scope_choice(application, None, grant)
        )
        grant = grants.approve(
            application,
            school,
            approver=db.session.get(User, school_admin.id),
            choice=choice,
            optional_scopes=optional,
            restrictions=restrictions,
            expires_at=expires_at,
            request=request,
        )
        db.session.commit()
        db.session.refresh(grant)
        db.session.expunge(grant)
        return grant


@pytest.fixture
def connected(app, vendor_client, school_admin, school) -> dict:
    """An approved connection with a claimed school secret."""
    grant = approve(app, school_admin, school, vendor_client.application)
    claimed = vendor_client.claim(school.id)
    assert claimed.status_code == 201
    return {"grant": grant, "secret": claimed.get_json()["school_secret"]}


# --- Data access requests ------------------------------------------------------------------------


def test_asking_a_school_is_idempotent_while_pending(
    app, client, vendor_client, school, school_admin
) -> None:
    first = vendor_client.ask(school.urn)
    assert first.status_code == 201
    body = first.get_json()
    assert body["status"] == "pending"
    assert body["required_scopes"] == ["StudentLite", "Attendance"]
    assert body["optional_scopes"] == ["Contact"]
    again = vendor_client.ask(school.urn)
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]
    with app.app_context():
        assert len(db.session.scalars(select(AccessRequest)).all()) == 1
    browser = app.test_client()
    sign_in(browser, school_admin.email)
    dashboard = browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Requests waiting for a decision (1)" in dashboard


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"school_urn": "999999"}, 404, "not_found"),
        ({}, 400, "invalid_request"),
        ({"school_urn": 140001}, 400, "invalid_request"),
    ],
)
def test_bad_access_requests(vendor_client, body, status, error) -> None:
    response = vendor_client.client.post(
        "/api/v1/access-requests", json=body, headers=vendor_client.bearer
    )
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_the_management_api_needs_the_applications_own_token(
    client, vendor_client, connected, school
) -> None:
    missing = client.get("/api/v1/connections")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="school-data"'  # RFC 6750 §3.1
    bogus = client.get("/api/v1/connections", headers={"Authorization": "Bearer nope"})
    assert bogus.status_code == 401
    assert bogus.get_json()["error"] == "invalid_token"
    school_token = vendor_client.token(school.id, connected["secret"]).get_json()["access_token"]
    wrong_kind = client.get(
        "/api/v1/connections", headers={"Authorization": "Bearer " + school_token}
    )
    assert wrong_kind.status_code == 401
    assert wrong_kind.get_json()["error"] == "invalid_token"


def test_a_pending_request_can_be_withdrawn_once(app, vendor_client, school) -> None:
    request_id = vendor_client.ask(school.urn).get_json()["id"]
    path = f"/api/v1/access-requests/{request_id}"
    assert vendor_client.client.delete(path, headers=vendor_client.bearer).status_code == 204
    assert vendor_client.client.delete(path, headers=vendor_client.bearer).status_code == 409
    with app.app_context():
        assert db.session.get(AccessRequest, request_id).status == AccessRequestStatus.WITHDRAWN


def test_connections_list_every_school_and_what_changed(
    app, vendor_client, school_admin, school, make_school
) -> None:
    other = make_school(name="Other School")
    vendor_client.ask(other.urn)
    approve(app, school_admin, school, vendor_client.application)
    listing = vendor_client.connections().get_json()["connections"]
    by_urn = {c["school_urn"]: c for c in listing}
    assert by_urn[school.urn]["status"] == "approved"
    assert by_urn[school.urn]["grant_version"] == 1
    assert by_urn[school.urn]["scopes"] == ["StudentLite", "Attendance"]
    assert by_urn[other.urn]["status"] == "pending"
    assert by_urn[other.urn]["pending_request"]["required_scopes"]
    latest = max(c["updated_at"] for c in listing)
    assert vendor_client.connections(updated_after=latest).get_json()["connections"] == []
    earlier = (dt.datetime.fromisoformat(latest) - dt.timedelta(days=1)).isoformat()
    assert len(vendor_client.connections(updated_after=earlier).get_json()["connections"]) == 2
    bad = vendor_client.connections(updated_after="yesterday")
    assert bad.status_code == 400


def test_the_connections_say_where_the_next_look_starts(vendor_client, school) -> None:
    """`sync_from`: the moment of the read less the skew (30 seconds unless set otherwise)."""
    vendor_client.ask(school.urn)
    before = dt.datetime.now(dt.UTC)
    listing = vendor_client.connections().get_json()
    sync_from = dt.datetime.fromisoformat(listing["sync_from"])
    skew = dt.timedelta(seconds=30)
    assert before - skew <= sync_from <= dt.datetime.now(dt.UTC) - skew
    changed = listing["connections"][0]["updated_at"]
    # Asked again from there, what changed just before is told again, never missed.
    again = vendor_client.connections(updated_after=listing["sync_from"]).get_json()
    assert [c["updated_at"] for c in again["connections"]] == [changed]


# --- School secrets and the extension grant -----------------------------------------------------


def test_a_secret_needs_an_approved_connection(vendor_client, school) -> None:
    assert vendor_client.claim(school.id).status_code == 404


def test_a_school_secret_gives_school_tokens(app, vendor_client, connected, school) -> None:
    secret = connected["secret"]
    assert len(secret) >= 43
    with app.app_context():
        stored = db.session.scalar(select(SchoolSecret))
        assert stored.secret_digest != secret
        assert secret not in str(stored.__dict__)
    response = vendor_client.token(school.id, secret)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_json()
    assert token["school_id"] == school.id
    assert token["grant_version"] == 1
    assert set(token["scope"].split()) == {"StudentLite", "Attendance"}
    assert "refresh_token" not in token
    info = vendor_client.introspect(token["access_token"])
    assert info["active"] is True
    assert info["school_id"] == school.id
    subset = vendor_client.token(school.id, secret, scope="Attendance").get_json()
    assert subset["scope"] == "Attendance"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"scope": "StudentMedical"}, 400, "invalid_scope"),
        ({"school_id": "999"}, 400, "invalid_grant"),
        ({"school_id": "one"}, 400, "invalid_request"),
        ({"school_secret": "guess"}, 400, "invalid_grant"),
        ({"school_secret": ""}, 400, "invalid_request"),
    ],
)
def test_school_secret_grant_errors(
    vendor_client, connected, school, change, status, error
) -> None:
    data = {"school_id": str(school.id), "school_secret": connected["secret"], **change}
    response = vendor_client.client.post(
        "/oauth/token",
        headers=vendor_client.basic,
        data={"grant_type": SCHOOL_SECRET_GRANT_TYPE, **data},
    )
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_another_applications_secret_is_refused(make_app, client, connected, school) -> None:
    other_app, other_secret = make_app(name="Other")
    other = VendorClient(client, other_app, other_secret)
    assert other.token(school.id, connected["secret"]).get_json()["error"] == "invalid_grant"


def test_claiming_again_rotates_with_an_overlap(app, vendor_client, connected, school) -> None:
    old = connected["secret"]
    new = vendor_client.claim(school.id).get_json()["school_secret"]
    assert new != old
    # Within the overlap (600 s by default) both work.
    assert vendor_client.token(school.id, old).status_code == 200
    assert vendor_client.token(school.id, new).status_code == 200
    with app.app_context():  # the overlap has passed
        db.session.execute(
            update(SchoolSecret)
            .where(SchoolSecret.superseded_at.is_not(None))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.commit()
    refused = vendor_client.token(school.id, old).get_json()
    assert refused["error"] == "invalid_grant"
    assert "newer" in refused["error_description"]
    assert vendor_client.token(school.id, new).status_code == 200


def test_an_overlap_of_zero_ends_the_old_secret_at_once(
    app, vendor_client, connected, school
) -> None:
    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], school_secret_overlap_seconds=0
    )
    vendor_client.claim(school.id)
    assert vendor_client.token(school.id, connected["secret"]).get_json()["error"] == (
        "invalid_grant"
    )


def test_a_scope_change_approved_while_the_old_secret_is_in_use(
    app, client, vendor_client, connected, school, school_admin
) -> None:
    from authserver.domain.applications import scope_requests_from, update_application
    from authserver.models import Application

    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], school_secret_overlap_seconds=0
    )
    old_secret = connected["secret"]
    old_token = vendor_client.token(school.id, old_secret).get_json()
    # The vendor now requires Contact too.
    with app.app_context():
        application = db.session.get(Application, vendor_client.application.id)
        update_application(
            application,
            name=application.name,
            redirect_uris=application.redirect_uris,
            privacy_policy_url=application.privacy_policy_url,
            terms_url=application.terms_url,
            scopes=scope_requests_from(
                {
                    "StudentLite": "Names.",
                    "Attendance": "Registers.",
                    "Contact": "To phone parents.",
                }
            ),
        )
        db.session.commit()
        pending = db.session.scalar(
            select(AccessRequest).where(AccessRequest.status == AccessRequestStatus.PENDING)
        )
        # The school is asked for the difference only.
        assert pending.required_scopes == ["Contact"]
        assert pending.optional_scopes == []
    # Meanwhile the old secret goes on working at the approved scopes: no outage.
    assert vendor_client.token(school.id, old_secret).status_code == 200
    approve(app, school_admin, school, vendor_client.application)
    # The old secret still gives only the old scopes...
    still_old = vendor_client.token(school.id, old_secret).get_json()
    assert set(still_old["scope"].split()) == {"StudentLite", "Attendance"}
    assert still_old["grant_version"] == 1
    # ...a new secret reaches the new version...
    claimed = vendor_client.claim(school.id).get_json()
    assert claimed["grant_version"] == 2
    new_token = vendor_client.token(school.id, claimed["school_secret"]).get_json()
    assert set(new_token["scope"].split()) == {"StudentLite", "Attendance", "Contact"}
    # ...and then the old one fails, saying why.
    refused = vendor_client.token(school.id, old_secret).get_json()
    assert refused["error"] == "invalid_grant"
    assert "newer" in refused["error_description"]
    assert "scopes changed" in refused["error_description"]
    # Tokens from the old version never gain the new scopes.
    info = vendor_client.introspect(old_token["access_token"])
    assert info["active"] is True
    assert "Contact" not in info["scope"].split()
    assert info["grant_version"] == 1


def test_revocation_stops_tokens_and_secrets_at_once(
    app, vendor_client, connected, school, school_admin
) -> None:
    token = vendor_client.token(school.id, connected["secret"]).get_json()
    browser = app.test_client()
    sign_in(browser, school_admin.email)
    page = browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    browser.post(
        f"/schools/{school.urn}/connections/{connected['grant'].id}/revoke",
        data={"csrf_token": csrf_token(page)},
    )
    assert vendor_client.introspect(token["access_token"]) == {"active": False}
    refused = vendor_client.token(school.id, connected["secret"]).get_json()
    assert refused["error"] == "invalid_grant"
    assert "withdrawn" in refused["error_description"]
    statuses = vendor_client.connections().get_json()["connections"]
    assert statuses[0]["status"] == "revoked"


def test_narrowing_stops_tokens_and_secrets_at_once(
    app, vendor_client, connected, school, school_admin
) -> None:
    from authserver.domain.grants import Restrictions
    from authserver.models.mis.structure import Group

    token = vendor_client.token(school.id, connected["secret"]).get_json()
    with app.app_context():
        year = Group(school_id=school.id, type="year", name="Year 7", nc_year="7")
        db.session.add(year)
        db.session.commit()
        year_id = year.id
    grant = approve(
        app,
        school_admin,
        school,
        vendor_client.application,
        restrictions=Restrictions(group_ids=(year_id,)),
    )
    assert grant.version == 2
    assert vendor_client.introspect(token["access_token"]) == {"active": False}
    assert vendor_client.token(school.id, connected["secret"]).get_json()["error"] == (
        "invalid_grant"
    )
    fresh = vendor_client.claim(school.id).get_json()
    narrowed = vendor_client.token(school.id, fresh["school_secret"]).get_json()
    assert vendor_client.introspect(narrowed["access_token"])["restrictions"]["group_ids"] == [
        year_id
    ]


def test_the_vendor_can_give_up_a_connection(vendor_client, connected, school) -> None:
    token = vendor_client.token(school.id, connected["secret"]).get_json()
    path = f"/api/v1/connections/{school.id}"
    assert vendor_client.client.delete(path, headers=vendor_client.bearer).status_code == 204
    assert vendor_client.introspect(token["access_token"]) == {"active": False}
    assert vendor_client.token(school.id, connected["secret"]).get_json()["error"] == (
        "invalid_grant"
    )
    assert vendor_client.client.delete(path, headers=vendor_client.bearer).status_code == 404


def test_a_consent_that_reaches_its_end_date_behaves_as_revoked_and_asks_for_renewal(
    app, cli, vendor_client, connected, school, school_admin
) -> None:
    token = vendor_client.token(school.id, connected["secret"]).get_json()
    with app.app_context():
        db.session.execute(
            update(Grant).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        db.session.commit()
    assert vendor_client.introspect(token["access_token"]) == {"active": False}
    refused = vendor_client.token(school.id, connected["secret"]).get_json()
    assert "expired" in refused["error_description"]
    result = cli.invoke(args=["grants", "expire"])
    assert "1 grant(s)" in result.output
    browser = app.test_client()
    sign_in(browser, school_admin.email)
    page = browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Consent ended" in page
    renew = browser.post(
        f"/schools/{school.urn}/connections/{connected['grant'].id}/renew",
        data={"csrf_token": csrf_token(page)},
    )
    assert re.search(r"/requests/\d+$", renew.headers["Location"])
    assert "asks for" in browser.get(renew.headers["Location"]).get_data(as_text=True)


def test_the_consent_screen_offers_the_end_of_the_academic_year(
    app, client, make_app, school_admin
) -> None:
    from tests.oauth_flow import OAuthFlow, query_of

    application, secret = make_app()
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    html = flow.start().get_data(as_text=True)
    assert "Until the end of this academic year" in html
    query_of(flow.decide(extra={"duration": "end_of_year"}))
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        assert grant.expires_at.month == 9
        assert grant.expires_at.day == 1


def test_every_step_is_in_the_schools_history(app, vendor_client, connected, school) -> None:
    vendor_client.token(school.id, connected["secret"])
    vendor_client.claim(school.id)
    with app.app_context():
        actions = set(
            db.session.scalars(select(AuditEvent.action).where(AuditEvent.school_id == school.id))
        )
    assert {
        "grant:approved",
        "school_secret:claimed",
        "school_secret:rotated",
        "token:issued",
    } <= actions


def test_each_change_is_written_to_the_vendors_outbox(
    app, cli, vendor_client, school, school_admin, make_school, make_user
) -> None:
    import json

    from authserver import webhooks
    from authserver.domain import grants
    from authserver.models import Application, Role, User
    from authserver.models.webhooks import WebhookDelivery

    with app.app_context():
        webhooks.set_webhook(
            db.session.get(Application, vendor_client.application.id),
            "https://vendor.example.com/hooks",
        )
        db.session.commit()
    other = make_school(name="Refusing School")
    other_admin = make_user(Role.SCHOOL_ADMIN, school=other, can_approve=True)
    vendor_client.ask(other.urn)
    with app.app_context():
        grants.reject(
            db.session.scalar(select(AccessRequest)), by=db.session.get(User, other_admin.id)
        )
        db.session.commit()
    approve(app, school_admin, school, vendor_client.application)
    approve(app, school_admin, school, vendor_client.application, optional=("Contact",))
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.school_id == school.id))
        grants.revoke(grant, by=db.session.get(User, school_admin.id))
        db.session.commit()
    approve(
        app,
        school_admin,
        school,
        vendor_client.application,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(microseconds=1),
    )
    cli.invoke(args=["grants", "expire"])
    with app.app_context():
        deliveries = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        events = [(d.event_type, json.loads(d.body)["data"]["school_id"]) for d in deliveries]
    assert events == [
        ("access_request.rejected", other.id),
        ("access_request.approved", school.id),
        ("connection.scopes_changed", school.id),
        ("connection.revoked", school.id),
        ("access_request.approved", school.id),
        ("connection.expired", school.id),
    ]
