"""People and their rights, through the pages: invitations (sent, accepted once, refused when
expired, reused or withdrawn), view-only staff refused every managing action, managers
refused approving, removed people signed out at once, and the last approver kept."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, Invitation, OutboxMessage, Role, User
from authserver.models.sessions import UserSession
from tests.conftest import PASSWORD
from tests.consent.connections import Connection
from tests.consent.test_mis_data_pages import signed_in
from tests.consent.test_sessions import copy_cookie, csrf

NEW_PASSWORD = "plum kettle orbit seventeen"


def outbox(app, to: str) -> list[OutboxMessage]:
    """The mail to `to` since the test began: the notice of the authenticator set up by the
    make_user fixture (tests/authenticator.py) came before, and is left out."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.to_address == to,
                OutboxMessage.template_name != "security_second_factor_changed",
            )
            .order_by(OutboxMessage.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def link_in(message: OutboxMessage) -> str:
    """The path of the one link in an email."""
    return re.search(r"https?://[^/\s]+(/\S+)", message.text_body).group(1)


def actions(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def invite(client, school, email: str, **rights: bool):
    page = client.get(f"/schools/{school.urn}/people")
    data = {"csrf_token": csrf(page), "email": email}
    data.update({name: "y" for name, on in rights.items() if on})
    return client.post(f"/schools/{school.urn}/people", data=data)


def accept_new(client, path: str, name: str = "Sam Teacher", password: str = NEW_PASSWORD):
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(
        path,
        data={"csrf_token": csrf(page), "name": name, "password": password, "confirm": password},
    )


@pytest.fixture
def invited(app, client, school_admin, school):
    """A colleague invited to manage (not approve); returns the path of their link."""
    signed_in(client, school_admin)
    response = invite(client, school, "sam@school.example.org", can_manage=True)
    assert response.status_code == 302
    [message] = outbox(app, "sam@school.example.org")
    return link_in(message)


def test_an_invitation_is_emailed_listed_accepted_and_audited(app, client, school, invited):
    assert invited.startswith("/invitations/")
    page = client.get(f"/schools/{school.urn}/people").get_data(as_text=True)
    assert "sam@school.example.org" in page
    assert "Waiting, until" in page
    with app.app_context():
        invitation = db.session.scalar(select(Invitation))
        # Only the digest of the link's token is stored.
        assert invited.rsplit("/", 1)[1] not in invitation.token_digest
    newcomer = app.test_client()
    response = accept_new(newcomer, invited)
    assert response.status_code == 302
    # Signed in, and as one who may manage, sent to set up the authenticator first.
    assert (
        newcomer.get(f"/schools/{school.urn}")
        .headers["Location"]
        .startswith("/second-factor/set-up")
    )
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "sam@school.example.org"))
        [role] = user.roles
        assert (role.role, role.can_manage, role.can_approve) == (Role.SCHOOL_ADMIN, True, False)
    assert actions(app, "invitation:sent")
    assert actions(app, "invitation:accepted")
    assert "Accepted" in client.get(f"/schools/{school.urn}/people").get_data(as_text=True)


def test_an_invitation_works_once(app, client, invited) -> None:
    assert accept_new(app.test_client(), invited).status_code == 302
    again = app.test_client().get(invited)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)


def test_an_expired_invitation_is_refused(app, invited) -> None:
    with app.app_context():
        invitation = db.session.scalar(select(Invitation))
        invitation.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    response = accept_new(app.test_client(), invited)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "sam@school.example.org")) is None


def test_a_withdrawn_invitation_is_refused(app, client, school, invited) -> None:
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id))
    page = client.get(f"/schools/{school.urn}/people")
    response = client.post(
        f"/people/invitations/{invitation_id}/withdraw", data={"csrf_token": csrf(page)}
    )
    assert response.status_code == 302
    refused = app.test_client().get(invited)
    assert refused.status_code == 410
    assert "withdrawn" in refused.get_data(as_text=True)
    assert actions(app, "invitation:withdrawn")


def test_an_unknown_invitation_link_is_not_found(app) -> None:
    assert app.test_client().get("/invitations/not-a-real-token").status_code == 404


def test_a_weak_password_is_refused_with_the_reason(app, invited) -> None:
    response = accept_new(app.test_client(), invited, password="password123")
    assert response.status_code == 400
    assert "There is a problem" in response.get_data(as_text=True)


def test_an_invitation_to_an_existing_account_adds_the_role_after_sign_in(
    app, client, make_school, make_user, school_admin, school
) -> None:
    other = make_school(name="Other School")
    colleague = make_user(Role.SCHOOL_ADMIN, school=other, email="pat@example.org")
    signed_in(client, school_admin)
    invite(client, school, "pat@example.org")
    [message] = outbox(app, "pat@example.org")
    path = link_in(message)
    browser = app.test_client()
    assert browser.get(path).headers["Location"].startswith("/sign-in")
    signed_in(browser, colleague)
    page = browser.get(path)
    assert page.status_code == 200
    assert browser.post(path, data={"csrf_token": csrf(page)}).status_code == 302
    assert browser.get(f"/schools/{school.urn}").status_code == 200
    assert browser.get(f"/schools/{other.urn}").status_code == 200


@pytest.fixture
def viewer(make_user, school):
    return make_user(Role.SCHOOL_ADMIN, school=school, can_manage=False, can_approve=False)


MANAGING = [
    ("/schools/{urn}/data/connectors", {"name": "Agent"}),
    ("/schools/{urn}/data/pause", {"reason": "Rollover"}),
    ("/schools/{urn}/data/resume", {}),
    ("/schools/{urn}/data/import", {}),
    ("/schools/{urn}/writebacks/applied", {}),
    ("/schools/{urn}/people", {"email": "x@example.org"}),
]


@pytest.mark.parametrize(("path", "data"), MANAGING)
def test_view_only_staff_may_not_manage(client, school, viewer, path, data) -> None:
    signed_in(client, viewer)
    page = client.get(f"/schools/{school.urn}/data")
    assert page.status_code == 200
    response = client.post(path.format(urn=school.urn), data={"csrf_token": csrf(page), **data})
    assert response.status_code == 403


def test_view_only_staff_see_pages_without_managing_forms(client, school, viewer) -> None:
    signed_in(client, viewer)
    data = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert "Register the connector" not in data
    assert "Pause sync" not in data
    people = client.get(f"/schools/{school.urn}/people").get_data(as_text=True)
    assert "Send the invitation" not in people


def test_view_only_staff_may_not_revoke_a_connection(
    app, client, make_app, school, school_admin, viewer
) -> None:
    connection = Connection(
        app, client, make_app, school, school_admin, required={"StudentLite": "Names."}
    )
    signed_in(client, viewer)
    page = client.get(f"/schools/{school.urn}")
    response = client.post(
        f"/schools/{school.urn}/connections/{connection.grant_id}/revoke",
        data={"csrf_token": csrf(page)},
    )
    assert response.status_code == 403


def test_a_manager_without_the_approve_right_may_not_approve(
    app, client, make_app, make_user, school
) -> None:
    from authserver.domain import grants
    from authserver.models import Application, School

    manager = make_user(Role.SCHOOL_ADMIN, school=school, can_manage=True, can_approve=False)
    application, _ = make_app()
    with app.app_context():
        model = db.session.get(Application, application.id)
        access_request, _ = grants.request_access(
            model, db.session.get(School, school.id), actor=model
        )
        db.session.commit()
        request_id = access_request.id
    signed_in(client, manager)
    assert client.get(f"/schools/{school.urn}/requests/{request_id}").status_code == 403
    # Nor may they hand the approve right to someone else.
    response = invite(client, school, "helper@example.org", can_approve=True)
    assert response.status_code == 403
    assert "Only someone who may approve" in response.get_data(as_text=True)


def test_a_removed_admin_is_signed_out_at_once(app, client, make_user, school_admin, school):
    colleague = make_user(Role.SCHOOL_ADMIN, school=school)
    theirs = signed_in(app.test_client(), colleague)
    stolen = copy_cookie(app, theirs)
    signed_in(client, school_admin)
    with app.app_context():
        [assignment_id] = [a.id for a in db.session.get(User, colleague.id).roles]
    page = client.get(f"/schools/{school.urn}/people")
    response = client.post(f"/people/roles/{assignment_id}/remove", data={"csrf_token": csrf(page)})
    assert response.status_code == 302
    for browser in (theirs, stolen):
        assert browser.get(f"/schools/{school.urn}").status_code == 302  # to sign in
        assert browser.get("/account").status_code == 302
    with app.app_context():
        assert not db.session.scalars(
            select(UserSession).where(
                UserSession.user_id == colleague.id, UserSession.ended_at.is_(None)
            )
        ).all()
    assert actions(app, "role:removed")
    assert [m.template_name for m in outbox(app, colleague.email)] == ["security_role_changed"]


def test_rights_change_at_once_and_the_person_is_told(
    app, client, make_user, school_admin, school
) -> None:
    colleague = make_user(Role.SCHOOL_ADMIN, school=school, can_manage=False, can_approve=False)
    theirs = signed_in(app.test_client(), colleague)
    assert theirs.post(f"/schools/{school.urn}/data/pause", data={}).status_code in (400, 403)
    signed_in(client, school_admin)
    with app.app_context():
        [assignment_id] = [a.id for a in db.session.get(User, colleague.id).roles]
    page = client.get(f"/schools/{school.urn}/people")
    client.post(
        f"/people/roles/{assignment_id}", data={"csrf_token": csrf(page), "can_manage": "y"}
    )
    data = theirs.get(f"/schools/{school.urn}/data")
    assert "Register the connector" in data.get_data(as_text=True)
    assert actions(app, "role:changed")
    assert [m.template_name for m in outbox(app, colleague.email)] == ["security_role_changed"]


@pytest.fixture
def connected(app, client, make_app, school, school_admin):
    return Connection(
        app, app.test_client(), make_app, school, school_admin, required={"StudentLite": "Names."}
    )


def _own_assignment(app, user) -> int:
    with app.app_context():
        [assignment_id] = [a.id for a in db.session.get(User, user.id).roles]
    return assignment_id


def test_the_last_approver_cannot_drop_the_right(app, client, school, school_admin, connected):
    signed_in(client, school_admin)
    assignment_id = _own_assignment(app, school_admin)
    page = client.get(f"/schools/{school.urn}/people")
    response = client.post(
        f"/people/roles/{assignment_id}", data={"csrf_token": csrf(page), "can_manage": "y"}
    )
    assert response.status_code == 409
    assert "last person who can approve" in response.get_data(as_text=True)
    removed = client.post(f"/people/roles/{assignment_id}/remove", data={"csrf_token": csrf(page)})
    assert removed.status_code == 409
    with app.app_context():
        assert db.session.get(User, school_admin.id).roles[0].can_approve


def test_nobody_can_take_the_last_approvers_right(
    app, client, make_user, school, school_admin, connected
) -> None:
    # A manager who cannot approve may not touch the right at all; an approver who is not the
    # last could, but here the other approver is the last one.
    other = make_user(Role.SCHOOL_ADMIN, school=school, can_manage=True, can_approve=False)
    signed_in(client, other)
    page = client.get(f"/schools/{school.urn}/people")
    response = client.post(
        f"/people/roles/{_own_assignment(app, school_admin)}/remove",
        data={"csrf_token": csrf(page)},
    )
    assert response.status_code in (403, 409)
    with app.app_context():
        assert db.session.get(User, school_admin.id).roles


def test_with_a_second_approver_the_first_may_step_back(
    app, client, make_user, school, school_admin, connected
) -> None:
    make_user(Role.SCHOOL_ADMIN, school=school, can_approve=True)
    signed_in(client, school_admin)
    page = client.get(f"/schools/{school.urn}/people")
    response = client.post(
        f"/people/roles/{_own_assignment(app, school_admin)}",
        data={"csrf_token": csrf(page), "can_manage": "y"},
    )
    assert response.status_code == 302


def test_a_platform_admin_invites_a_schools_first_admin(app, client, make_user, school) -> None:
    operator = make_user(Role.PLATFORM_ADMIN)
    signed_in(client, operator)
    page = client.get("/platform/invitations")
    assert page.status_code == 200
    response = client.post(
        "/platform/invitations",
        data={
            "csrf_token": csrf(page),
            "kind": "school",
            "organisation": school.urn,
            "email": "head@school.example.org",
        },
    )
    assert response.status_code == 302
    [message] = outbox(app, "head@school.example.org")
    newcomer = app.test_client()
    assert accept_new(newcomer, link_in(message), name="Head Teacher").status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "head@school.example.org"))
        assert user.can_manage_for(school)
        assert user.can_approve_for(school)


def test_only_a_platform_admin_sees_the_platform_invitations(client, school_admin) -> None:
    signed_in(client, school_admin)
    assert client.get("/platform/invitations").status_code == 404


def test_a_vendor_admin_invites_the_team(app, client, make_user, vendor) -> None:
    lead = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    signed_in(client, lead)
    page = client.get(f"/vendors/{vendor.id}/people")
    assert page.status_code == 200
    client.post(
        f"/vendors/{vendor.id}/people",
        data={"csrf_token": csrf(page), "email": "dev2@vendor.example.com"},
    )
    [message] = outbox(app, "dev2@vendor.example.com")
    newcomer = app.test_client()
    assert accept_new(newcomer, link_in(message)).status_code == 302
    assert newcomer.get("/vendor").status_code == 200


def test_an_invitation_reminder_goes_a_day_before_it_ends(app, cli, invited) -> None:
    with app.app_context():
        invitation = db.session.scalar(select(Invitation))
        invitation.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)
        db.session.commit()
    result = cli.invoke(args=["mail", "send"])
    assert "1 invitation reminder(s) queued" in result.output
    messages = outbox(app, "sam@school.example.org")
    assert [m.template_name for m in messages] == ["invitation", "invitation_reminder"]
    # The reminder's link replaces the first one (only one digest is kept).
    assert app.test_client().get(invited).status_code == 404
    assert app.test_client().get(link_in(messages[1])).status_code == 200
    assert "0 invitation" not in cli.invoke(args=["mail", "send"]).output


def test_a_sign_in_from_a_new_browser_is_emailed(app, make_user, school) -> None:
    # View-only, so each sign-in is the password alone (codes are good once each).
    reader = make_user(
        Role.SCHOOL_ADMIN, school=school, can_approve=False, can_manage=False, enrolled=False
    )
    school_admin = reader
    signed_in(app.test_client(), school_admin)  # the first sign-in ever: no news
    known = app.test_client()
    signed_in(known, school_admin)
    assert [m.template_name for m in outbox(app, school_admin.email)] == ["security_new_sign_in"]
    signed_in(known, school_admin)  # the same browser again: no news
    assert len(outbox(app, school_admin.email)) == 1
    assert PASSWORD not in outbox(app, school_admin.email)[0].text_body
