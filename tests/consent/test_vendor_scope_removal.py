"""A vendor stops asking for a scope: the page names the schools it affects before saving, and
then every grant that has the scope drops it (or ends, when nothing is left)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver import webhooks
from authserver.domain import grants
from authserver.extensions import db
from authserver.models import (
    Application,
    AuditEvent,
    Grant,
    GrantReceipt,
    Role,
    School,
    User,
    WebhookDelivery,
)
from tests.consent.change_pages import submitted
from tests.consent.vendor_forms import registration
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, query_of, sign_in

REDIRECT_URI = "https://app.example.com/callback"


def approve_everything_asked(app, application_id: int, school_id: int, admin_id: int) -> None:
    """The school approves the application's request, as its dashboard would."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        school = db.session.get(School, school_id)
        request, _ = grants.request_access(application, school, actor=application)
        grants.approve(
            application,
            school,
            approver=db.session.get(User, admin_id),
            choice=grants.choice_for_request(request),
            request=request,
        )
        db.session.commit()


@pytest.fixture
def connected(app, make_app, make_school, make_user, school, school_admin) -> dict:
    """Register Radar (StudentLite and Attendance required) connected to two schools, the
    first through the OAuth flow with a live token; its webhook is set."""
    application, secret = make_app(
        required={"StudentLite": "Names.", "Attendance": "Registers."}, optional={}
    )
    with app.app_context():
        webhooks.set_webhook(
            db.session.get(Application, application.id), "https://hooks.example.com/events"
        )
        db.session.commit()
    school_browser = app.test_client()
    flow = OAuthFlow(school_browser, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    flow.start()
    token = flow.exchange(query_of(flow.decide())["code"]).get_json()
    other = make_school(name="Brook Primary")
    other_admin = make_user(Role.SCHOOL_ADMIN, school=other)
    approve_everything_asked(app, application.id, other.id, other_admin.id)
    return {"application": application, "token": token, "schools": [school, other]}


def edit_data(html: str, **overrides) -> dict:
    return {"csrf_token": csrf_token(html), **registration(**overrides)}


def without_attendance() -> dict:
    return {
        "name": "Register Radar",
        "redirect_uris": "https://app.example.com/callback",
        "scope_StudentLite": "required",
        "purpose_StudentLite": "Names.",
        "scope_DietaryNeeds": None,
        "purpose_DietaryNeeds": None,
    }


def is_active(app, resource_server, token: str) -> bool:
    server, secret = resource_server
    return (
        app.test_client()
        .post(
            "/oauth/introspect",
            data={"token": token},
            headers=basic_auth(server.client_id, secret),
        )
        .get_json()["active"]
    )


def grants_by_school(app) -> dict[str, Grant]:
    with app.app_context():
        rows = db.session.scalars(select(Grant))
        found = {}
        for grant in rows:
            found[grant.school.name] = grant
            db.session.expunge(grant)
        return found


def test_the_page_names_the_schools_affected_before_anything_is_saved(
    app, signed_in, connected, resource_server
) -> None:
    path = f"/vendor/applications/{connected['application'].id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    response = signed_in.post(path, data=edit_data(html, **without_attendance()))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 schools share data you no longer ask for" in page
    table = page.split("<table>")[1].split("</table>")[0]
    assert "Test Academy" in table
    assert "Brook Primary" in table
    assert "Attendance" in table
    assert "Keeps sharing StudentLite" in table
    with app.app_context():
        assert (
            "Attendance" in db.session.get(Application, connected["application"].id).required_scopes
        )
    assert {g.version for g in grants_by_school(app).values()} == {1}
    assert is_active(app, resource_server, connected["token"]["access_token"])


def test_confirming_drops_the_scope_from_every_grant_and_stops_its_tokens(
    app, signed_in, connected, resource_server
) -> None:
    path = f"/vendor/applications/{connected['application'].id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    check = signed_in.post(path, data=edit_data(html, **without_attendance()))
    data = submitted(check.get_data(as_text=True), path)
    done = signed_in.post(path, data={**data, "confirm_removal": "1"})
    assert done.status_code == 302, done.get_data(as_text=True)[:1000]
    for grant in grants_by_school(app).values():
        assert (grant.version, grant.scopes, grant.status) == (2, ["StudentLite"], "active")
    assert not is_active(app, resource_server, connected["token"]["access_token"])
    with app.app_context():
        bodies = [
            json.loads(body)
            for body in db.session.scalars(
                select(WebhookDelivery.body).where(
                    WebhookDelivery.event_type == "connection.scopes_changed"
                )
            )
        ]
        audited = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "grant:changed")
        ).all()
        receipts = db.session.scalars(select(GrantReceipt.version)).all()
        dropped = db.session.scalars(select(GrantReceipt).where(GrantReceipt.version == 2)).all()
        decisions = [(r.document["decision"], r.signature is not None) for r in dropped]
    assert len(bodies) == 2
    for body in bodies:
        assert body["data"]["changes"]["scopes"] == {"added": [], "removed": ["Attendance"]}
        assert body["data"]["changes"]["narrowed"] is True
    assert {event.school_id for event in audited} == {s.id for s in connected["schools"]}
    assert all(event.actor.startswith("application ") for event in audited)
    assert all("No longer shares: Attendance" in event.detail["summary"] for event in audited)
    assert sorted(receipts).count(2) == 2
    # Signed with the change: the application's dropping of scopes, not a school's decision.
    for decision, signed in decisions:
        assert signed
        assert decision["kind"] == "scopes_no_longer_asked"
        assert decision["by"]["kind"] == "application"
        assert decision["by"]["client_id"] == connected["application"].client_id


def test_going_back_keeps_what_was_typed_and_saves_nothing(app, signed_in, connected) -> None:
    path = f"/vendor/applications/{connected['application'].id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    check = signed_in.post(
        path, data=edit_data(html, **{**without_attendance(), "name": "Radar II"})
    )
    data = submitted(check.get_data(as_text=True), path)
    back = signed_in.post(path, data={**data, "back": "1"})
    assert back.status_code == 200
    assert 'value="Radar II"' in back.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Application, connected["application"].id).name == "Register Radar"
    assert {g.version for g in grants_by_school(app).values()} == {1}


def test_a_grant_left_with_no_scopes_ends(
    app, signed_in, make_app, school, school_admin, resource_server
) -> None:
    application, _ = make_app(
        name="Menu Board", required={"DietaryNeeds": "Allergies."}, optional={}
    )
    approve_everything_asked(app, application.id, school.id, school_admin.id)
    path = f"/vendor/applications/{application.id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    changed = {
        "name": "Menu Board",
        "redirect_uris": "https://app.example.com/callback",
        "scope_StudentLite": "required",
        "purpose_StudentLite": "Names.",
        "scope_DietaryNeeds": None,
        "purpose_DietaryNeeds": None,
    }
    check = signed_in.post(path, data=edit_data(html, **changed))
    assert "The connection ends" in check.get_data(as_text=True)
    data = submitted(check.get_data(as_text=True), path)
    assert signed_in.post(path, data={**data, "confirm_removal": "1"}).status_code == 302
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.application_id == application.id))
        assert grant.status == "revoked"
        assert grant.scopes == ["DietaryNeeds"]  # what was approved, for the record
        ended = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "grant:given_up"))
        assert ended.school_id == school.id
        # An ended connection is not asked again on the vendor's behalf: it asks when it wants.
        assert grants.pending_request(application, db.session.get(School, school.id)) is None


def test_an_edit_that_drops_nothing_approved_saves_at_once(app, signed_in, connected) -> None:
    path = f"/vendor/applications/{connected['application'].id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    kept = {
        **without_attendance(),
        "scope_Attendance": "required",
        "purpose_Attendance": "Registers.",
        "scope_DietaryNeeds": "optional",
        "purpose_DietaryNeeds": "Allergies.",
    }
    response = signed_in.post(path, data=edit_data(html, **kept))
    assert response.status_code == 302
    assert {g.version for g in grants_by_school(app).values()} == {1}


def check_page(signed_in, application_id: int) -> tuple[str, str]:
    """The vendor stops asking for Attendance and is shown the schools it affects."""
    path = f"/vendor/applications/{application_id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    check = signed_in.post(path, data=edit_data(html, **without_attendance()))
    assert check.status_code == 200
    return path, check.get_data(as_text=True)


def test_a_school_approving_after_the_check_is_shown_before_it_loses_anything(
    app, signed_in, connected, make_school, make_user
) -> None:
    application = connected["application"]
    path, page = check_page(signed_in, application.id)
    assert "Late Comer School" not in page
    # While the vendor reads the check page, another school approves on its consent screen.
    late = make_school(name="Late Comer School")
    admin = make_user(Role.SCHOOL_ADMIN, school=late)
    school_browser = app.test_client()
    flow = OAuthFlow(school_browser, application.client_id, None, REDIRECT_URI)
    flow.sign_in(admin.email)
    flow.start()
    assert "code" in query_of(flow.decide())

    again = signed_in.post(path, data={**submitted(page, path), "confirm_removal": "1"})
    shown = again.get_data(as_text=True)
    assert again.status_code == 409
    assert "this list changed since you checked it" in shown
    assert "Late Comer School now shares data you no longer ask for" in shown
    assert "3 schools share data you no longer ask for" in shown
    assert {(g.version, tuple(g.scopes)) for g in grants_by_school(app).values()} == {
        (1, ("StudentLite", "Attendance"))
    }
    with app.app_context():
        assert "Attendance" in db.session.get(Application, application.id).required_scopes

    done = signed_in.post(path, data={**submitted(shown, path), "confirm_removal": "1"})
    assert done.status_code == 302
    assert {name: g.scopes for name, g in grants_by_school(app).items()} == {
        "Test Academy": ["StudentLite"],
        "Brook Primary": ["StudentLite"],
        "Late Comer School": ["StudentLite"],
    }


def test_a_school_withdrawing_after_the_check_is_said_and_nothing_is_saved(
    app, signed_in, connected, make_user
) -> None:
    application = connected["application"]
    path, page = check_page(signed_in, application.id)
    brook = connected["schools"][1]
    admin = make_user(Role.SCHOOL_ADMIN, school=brook)
    school_browser = app.test_client()
    assert sign_in(school_browser, admin.email).status_code == 302
    dashboard = school_browser.get(f"/schools/{brook.urn}").get_data(as_text=True)
    grant_id = grants_by_school(app)["Brook Primary"].id
    revoked = school_browser.post(
        f"/schools/{brook.urn}/connections/{grant_id}/revoke",
        data={"csrf_token": csrf_token(dashboard)},
    )
    assert revoked.status_code == 302

    again = signed_in.post(path, data={**submitted(page, path), "confirm_removal": "1"})
    shown = again.get_data(as_text=True)
    assert again.status_code == 409
    assert "Brook Primary no longer shares it" in shown
    assert "1 school shares data you no longer ask for" in shown
    assert grants_by_school(app)["Test Academy"].version == 1


def test_a_confirmation_that_names_no_schools_is_not_taken_as_one(
    app, signed_in, connected
) -> None:
    path, page = check_page(signed_in, connected["application"].id)
    data = submitted(page, path, shown_loss=None)
    again = signed_in.post(path, data={**data, "confirm_removal": "1"})
    assert again.status_code == 409
    assert {g.version for g in grants_by_school(app).values()} == {1}
