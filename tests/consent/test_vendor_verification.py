"""A platform admin verifies vendors and withdraws verification, from the Vendors page or the
command line; both are audited. A withdrawal stops new requests, keeps the grants the schools
made (their dashboards say why), and the consent screen and dashboard show what was checked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models import AccessRequest, AuditEvent, Role, Vendor
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, sign_in

VENDORS = "/platform/vendors"


@pytest.fixture
def platform_admin(make_user):
    return make_user(Role.PLATFORM_ADMIN)


@pytest.fixture
def operator(client, platform_admin):
    """A client signed in as the platform admin."""
    sign_in(client, platform_admin.email)
    return client


def events(app, action: AuditAction) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == str(action))))
        for event in found:
            db.session.expunge(event)
        return found


def vendor_row(app, vendor_id: int) -> Vendor:
    with app.app_context():
        vendor = db.session.get(Vendor, vendor_id)
        db.session.expunge(vendor)
        return vendor


def ask_by_api(client, application, secret, urn: str):
    basic = basic_auth(application.client_id, secret)
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic
    ).get_json()["access_token"]
    return client.post(
        "/api/v1/access-requests",
        json={"school_urn": urn},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_only_platform_admins_see_the_vendors_page(client, make_user, school, vendor) -> None:
    assert client.get(VENDORS).status_code == 302  # to sign in
    sign_in(client, make_user(Role.SCHOOL_ADMIN, school=school).email)
    assert client.get(VENDORS).status_code == 404
    token = csrf_token(client.get(f"/schools/{school.urn}").get_data(as_text=True))
    assert client.post(f"{VENDORS}/{vendor.id}/verify", data={"csrf_token": token}).status_code == (
        404
    )


def test_the_page_lists_vendors_waiting_with_their_details(
    operator, unverified_vendor, vendor
) -> None:
    html = operator.get(VENDORS).get_data(as_text=True)
    waiting = html.split('id="awaiting-heading"', 1)[1].split('id="verified-heading"', 1)[0]
    assert "Waiting for verification (1)" in html
    assert unverified_vendor.name in waiting
    for detail in ("01234567", "ZA123456", "Dana Protector", "dpo@vendor.example.com", "In the UK"):
        assert detail in waiting
    assert f"Verify {unverified_vendor.name}" in waiting
    assert vendor.name not in waiting
    assert f"Withdraw the verification of {vendor.name}" in html


def test_verifying_is_audited_and_opens_real_schools(
    app, operator, platform_admin, unverified_vendor, make_app, school
) -> None:
    application, secret = make_app(owner=unverified_vendor, name="Fresh Homework")
    assert ask_by_api(app.test_client(), application, secret, school.urn).status_code == 403
    token = csrf_token(operator.get(VENDORS).get_data(as_text=True))
    answer = operator.post(f"{VENDORS}/{unverified_vendor.id}/verify", data={"csrf_token": token})
    assert answer.status_code == 302
    assert "is verified" in operator.get(VENDORS).get_data(as_text=True)
    vendor = vendor_row(app, unverified_vendor.id)
    assert vendor.is_verified
    assert vendor.verified_by == platform_admin.email
    [event] = [
        e
        for e in events(app, AuditAction.VENDOR_VERIFIED)
        if e.detail["vendor_id"] == unverified_vendor.id
    ]
    assert event.actor_user_id == platform_admin.id
    assert event.detail["company_number"] == "01234567"
    assert ask_by_api(app.test_client(), application, secret, school.urn).status_code == 201


def test_verifying_needs_the_pages_csrf_token(app, operator, unverified_vendor) -> None:
    assert operator.post(f"{VENDORS}/{unverified_vendor.id}/verify").status_code == 400
    assert not vendor_row(app, unverified_vendor.id).is_verified
    token = csrf_token(operator.get(VENDORS).get_data(as_text=True))
    assert operator.post(f"{VENDORS}/999/verify", data={"csrf_token": token}).status_code == 404


def test_withdrawing_needs_a_reason(app, operator, vendor) -> None:
    token = csrf_token(operator.get(VENDORS).get_data(as_text=True))
    answer = operator.post(
        f"{VENDORS}/{vendor.id}/withdraw",
        data={"csrf_token": token, f"vendor-{vendor.id}-reason": "  "},
    )
    assert answer.status_code == 400
    assert "Say why" in answer.get_data(as_text=True)
    assert vendor_row(app, vendor.id).is_verified
    assert events(app, AuditAction.VENDOR_VERIFICATION_WITHDRAWN) == []


def test_a_withdrawal_stops_new_requests_keeps_grants_and_tells_the_schools(
    app, client, operator, platform_admin, vendor, make_app, school, school_admin, make_school
) -> None:
    application, secret = make_app(name="Steady Register")
    flow = OAuthFlow(
        app.test_client(), application.client_id, secret, "https://app.example.com/callback"
    )
    flow.sign_in(school_admin.email)
    tokens = flow.tokens()
    other = make_school(name="Later Academy")
    # A request made before the withdrawal waits, and cannot be approved meanwhile.
    assert ask_by_api(app.test_client(), application, secret, other.urn).status_code == 201

    token = csrf_token(operator.get(VENDORS).get_data(as_text=True))
    reason = "The ICO registration lapsed on 1 March."
    answer = operator.post(
        f"{VENDORS}/{vendor.id}/withdraw",
        data={"csrf_token": token, f"vendor-{vendor.id}-reason": reason},
    )
    assert answer.status_code == 302
    withdrawn = vendor_row(app, vendor.id)
    assert not withdrawn.is_verified
    assert withdrawn.verification_withdrawal_reason == reason
    [event] = events(app, AuditAction.VENDOR_VERIFICATION_WITHDRAWN)
    assert (event.actor_user_id, event.detail["reason"]) == (platform_admin.id, reason)
    assert "Waiting for verification (1)" in operator.get(VENDORS).get_data(as_text=True)

    # Nothing new: a request, an authorization.
    refused = ask_by_api(app.test_client(), application, secret, make_school().urn)
    assert refused.status_code == 403
    assert "withdrawn" in refused.get_json()["error_description"]
    assert flow.start().status_code == 403
    # The grant goes on: its refresh token still works.
    assert flow.refresh(tokens["refresh_token"]).status_code == 200
    # The school is told why, beside the connection.
    dashboard = flow.client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "The platform withdrew its verification of Test Vendor Ltd" in dashboard
    assert reason in dashboard
    # The pending request at the other school cannot be approved.
    approver = make_user_for(app, other)
    reviewer = app.test_client()
    sign_in(reviewer, approver.email)
    with app.app_context():
        request_id = db.session.scalar(
            select(AccessRequest.id).where(AccessRequest.school_id == other.id)
        )
    path = f"/schools/{other.urn}/requests/{request_id}"
    page = reviewer.get(path).get_data(as_text=True)
    answer = reviewer.post(
        path, data={"csrf_token": csrf_token(page), "school": other.urn, "approve": "1"}
    )
    assert answer.status_code == 400
    assert "verification was withdrawn" in answer.get_data(as_text=True)


def make_user_for(app, school):
    from authserver.models import RoleAssignment, User
    from tests.oauth_flow import PASSWORD

    with app.app_context():
        user = User(email=f"approver-{school.urn}@example.org", name="Approver")
        user.set_password(PASSWORD, rounds=4)
        user.roles.append(
            RoleAssignment(role=Role.SCHOOL_ADMIN, school_id=school.id, can_approve=True)
        )
        db.session.add(user)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def test_the_consent_screen_and_dashboard_show_the_checked_details(
    app, client, vendor, make_app, school, school_admin
) -> None:
    application, secret = make_app()
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    screen = flow.start().get_data(as_text=True)
    facts = screen.split('class="summary-box vendor-facts"', 1)[1].split("</section>", 1)[0]
    for shown in (
        "Verified",
        "01234567",
        "ZA123456",
        "In the UK",
        "Uses generative AI on pupils' data</dt><dd>No",
        "Dana Protector",
        "mailto:dpo@vendor.example.com",
    ):
        assert shown in facts
    flow.tokens()
    dashboard = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Test Vendor Ltd (verified)" in dashboard
    assert "ZA123456" in dashboard


def test_the_command_line_lists_verifies_and_withdraws(app, cli, unverified_vendor) -> None:
    listed = cli.invoke(args=["vendors", "list", "--unverified"])
    assert listed.exit_code == 0
    assert f"{unverified_vendor.id}\t{unverified_vendor.name}" in listed.output
    assert "not verified" in listed.output

    verified = cli.invoke(args=["vendors", "verify", str(unverified_vendor.id)])
    assert verified.exit_code == 0, verified.output
    assert "is verified" in verified.output
    assert vendor_row(app, unverified_vendor.id).is_verified
    again = cli.invoke(args=["vendors", "verify", str(unverified_vendor.id)])
    assert "already verified" in again.output
    assert len(events(app, AuditAction.VENDOR_VERIFIED)) == 1

    no_reason = cli.invoke(args=["vendors", "unverify", str(unverified_vendor.id)])
    assert no_reason.exit_code != 0
    assert "--reason" in no_reason.output
    withdrawn = cli.invoke(
        args=["vendors", "unverify", str(unverified_vendor.id), "--reason", "Company dissolved."]
    )
    assert withdrawn.exit_code == 0, withdrawn.output
    assert not vendor_row(app, unverified_vendor.id).is_verified
    [event] = events(app, AuditAction.VENDOR_VERIFICATION_WITHDRAWN)
    assert event.actor.startswith("operator ")
    assert event.detail["reason"] == "Company dissolved."
    assert "verification withdrawn" in cli.invoke(args=["vendors", "list"]).output
    missing = cli.invoke(args=["vendors", "verify", "99999"])
    assert missing.exit_code != 0
    assert "no vendor has the id 99999" in missing.output
