"""School admins signing in to applications (OpenID Connect), through HTTP: a member of staff
who also holds an admin account at the school signs in with that account and its second
factor, never with a password alone or an emailed link, and applications are told their role
is `school_admin` for as long as they hold it and the school lets school admins sign in."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from sqlalchemy import select

from authserver.domain import members
from authserver.extensions import db
from authserver.models.mail import OutboxMessage
from authserver.models.members import Member, MemberRole
from authserver.models.sessions import UserSession
from authserver.models.users import Role, RoleAssignment, User
from tests.authenticator import unused_code
from tests.oauth import test_openid_sign_in as sign_in_tests
from tests.oauth_flow import csrf_token, query_of
from tests.oauth_flow import sign_in as console_sign_in
from tests.school_people import People

TEACHER_EMAIL = "ada@school.test"  # the teacher of tests/school_people.py

# The sign-in tests' application, its approval and the member's browser.
sign_in_app, decision, member = (
    sign_in_tests.sign_in_app,
    sign_in_tests.decision,
    sign_in_tests.member,
)
MemberBrowser, verified_claims = sign_in_tests.Member, sign_in_tests.verified_claims


@pytest.fixture
def admin_teacher(make_user, school, people: People) -> User:
    """The school's teacher also looks after the school here (manage and approve)."""
    return make_user(Role.SCHOOL_ADMIN, school=school, email=TEACHER_EMAIL)


def _admin_path(urn: str, next_path: str | None = None) -> str:
    path = f"/members/sign-in/admin?school={urn}"
    return path + (f"&next={quote(next_path, safe='')}" if next_path else "")


def sign_in_as_admin(browser: MemberBrowser, **overrides: Any) -> dict[str, str]:
    """Start a sign-in at the application, go the admin account's way, and come back with
    the authorization's answer."""
    client = browser.flow.client
    overrides.setdefault("scope", "openid profile SignInRole SignInSchool SignInClasses")
    started = browser.flow.start(**overrides)
    assert started.status_code == 302
    sent_to = started.headers["Location"]
    assert sent_to.startswith("/members/sign-in")
    page = client.get(sent_to)
    assert "Sign in to the school's apps with your admin account" in page.text
    next_path = urlsplit(sent_to).query.split("next=", 1)[1].split("&school=")[0]
    admin_page = _admin_path(browser.urn, unquote(next_path))
    to_console = client.get(admin_page)
    assert to_console.status_code == 302
    assert to_console.headers["Location"].startswith("/sign-in?next=")
    signed_in = console_sign_in(client, TEACHER_EMAIL, next_url=quote(admin_page, safe=""))
    assert signed_in.status_code == 302, signed_in.text[:500]
    assert signed_in.headers["Location"] == admin_page
    confirm = client.get(admin_page)
    assert confirm.status_code == 200, confirm.text[:500]
    assert "Ada Lovelace" in confirm.text
    assert 'name="code"' not in confirm.text  # the code was typed a moment ago
    done = client.post(admin_page, data={"csrf_token": csrf_token(confirm.text)})
    assert done.status_code == 302, done.text[:500]
    return query_of(client.get(done.headers["Location"]))


def test_a_school_admin_cannot_sign_in_to_apps_with_a_password_alone(member, admin_teacher):
    refused = member.sign_in(TEACHER_EMAIL)
    assert refused.status_code == 401
    assert "sign in to apps with your admin account and its second factor" in refused.text
    assert "/members/sign-in/admin?school=" in refused.text


def test_a_school_admin_signs_in_with_their_account_and_is_told_apart(app, member, admin_teacher):
    answer = sign_in_as_admin(member)
    assert "code" in answer, answer
    exchanged = member.flow.exchange(answer["code"])
    assert exchanged.status_code == 200, exchanged.get_json()
    tokens = exchanged.get_json()
    _, claims = verified_claims(member.flow.client, tokens["id_token"])
    assert claims["role"] == "school_admin"
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:schooldata:acr:second-factor"
    assert claims["name"] == "Ada Lovelace"
    assert claims["classes"] == ["7M1"]
    info = member.userinfo(tokens["access_token"])
    assert info.status_code == 200
    assert info.get_json()["role"] == "school_admin"
    # Refreshed, the sign-in keeps its way of signing in.
    refreshed = member.flow.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    again = member.userinfo(refreshed.get_json()["access_token"])
    assert again.get_json()["role"] == "school_admin"
    # The console's own session survives: the admin pages are still theirs.
    assert member.flow.client.get("/").status_code == 200


def test_an_old_second_factor_check_is_asked_for_again(app, member, admin_teacher, people):
    client = member.flow.client
    admin_page = _admin_path(member.urn)
    console_sign_in(client, TEACHER_EMAIL)
    with app.app_context():
        for found in db.session.scalars(select(UserSession)):
            found.second_factor_at = found.created_at - dt.timedelta(hours=1)
        db.session.commit()
    page = client.get(admin_page)
    assert 'name="code"' in page.text
    wrong = client.post(admin_page, data={"csrf_token": csrf_token(page.text), "code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.text
    right = client.post(
        admin_page,
        data={"csrf_token": csrf_token(page.text), "code": unused_code(app, TEACHER_EMAIL)},
    )
    assert right.status_code == 302
    assert client.get("/members/").status_code == 200


def test_with_school_admins_turned_off_they_sign_in_as_staff(app, member, admin_teacher, people):
    with app.app_context():
        roles = [MemberRole.STUDENT, MemberRole.TEACHER, MemberRole.PARENT]
        members.set_enabled_roles(db.session, people.school_id, roles, by="test")
        db.session.commit()
    tokens = member.tokens(TEACHER_EMAIL, scope="openid SignInRole")
    assert member.userinfo(tokens["access_token"]).get_json()["role"] == "teacher"
    client = member.flow.client
    console_sign_in(client, TEACHER_EMAIL)
    page = client.get(_admin_path(member.urn))
    assert page.status_code == 403
    assert "has not turned on signing in to apps for school admins" in page.text


def test_losing_the_admin_account_s_rights_makes_them_staff_again(
    app, member, admin_teacher, people
):
    tokens_answer = sign_in_as_admin(member)
    tokens = member.flow.exchange(tokens_answer["code"]).get_json()
    with app.app_context():
        for held in db.session.scalars(
            select(RoleAssignment).where(RoleAssignment.user_id == admin_teacher.id)
        ):
            held.can_manage = held.can_approve = False
        db.session.commit()
    # Signed in with a second factor, they may stay signed in: as a teacher now.
    assert member.userinfo(tokens["access_token"]).get_json()["role"] == "teacher"
    refused = member.flow.client.get(_admin_path(member.urn))
    assert refused.status_code == 403
    assert "does not look after" in refused.text


def test_a_password_sign_in_stops_when_its_person_becomes_a_school_admin(
    app, member, people, make_user, school
):
    tokens = member.tokens(TEACHER_EMAIL, scope="openid SignInRole")
    assert member.userinfo(tokens["access_token"]).get_json()["role"] == "teacher"
    make_user(Role.SCHOOL_ADMIN, school=school, email=TEACHER_EMAIL)
    # A password alone never stands for a school admin: the token and the session stop.
    after = member.userinfo(tokens["access_token"])
    assert after.status_code == 401
    assert after.get_json()["error"] == "invalid_token"
    refreshed = member.flow.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"
    silent = query_of(member.authorize(prompt="none", scope="openid"))
    assert silent["error"] == "login_required"


def test_an_emailed_link_is_never_sent_to_a_school_admin(app, member, admin_teacher, people):
    client = member.flow.client
    page = client.get(f"/members/magic-link?school={member.urn}")
    with app.app_context():
        before = db.session.scalar(select(db.func.count()).select_from(OutboxMessage))
    answer = client.post(
        "/members/magic-link",
        data={"csrf_token": csrf_token(page.text), "school": member.urn, "email": TEACHER_EMAIL},
    )
    assert answer.status_code == 200
    with app.app_context():
        after = db.session.scalar(select(db.func.count()).select_from(OutboxMessage))
    assert after == before


def test_an_account_that_does_not_look_after_the_school_is_refused(
    app, member, people, make_user, make_school
):
    elsewhere = make_school(name="Another School")
    make_user(Role.SCHOOL_ADMIN, school=elsewhere, email=TEACHER_EMAIL)
    client = member.flow.client
    console_sign_in(client, TEACHER_EMAIL)
    page = client.get(_admin_path(member.urn))
    assert page.status_code == 403
    assert "does not look after" in page.text


def test_an_admin_who_is_not_on_the_staff_is_told_so(app, member, school_admin, people):
    client = member.flow.client
    console_sign_in(client, school_admin.email)
    page = client.get(_admin_path(member.urn))
    assert page.status_code == 404
    assert "We could not find you among the staff" in page.text
    with app.app_context():
        assert db.session.scalar(select(Member).where(Member.email == school_admin.email)) is None


def test_an_admin_made_a_member_on_their_first_sign_in(app, member, admin_teacher, people):
    with app.app_context():
        teacher = db.session.get(Member, people.teacher)
        db.session.delete(teacher)
        db.session.commit()
    answer = sign_in_as_admin(member)
    assert "code" in answer
    with app.app_context():
        made = db.session.scalar(select(Member).where(Member.email == TEACHER_EMAIL))
        assert made is not None
        assert made.staff_id is not None


def test_apps_given_to_school_admins_are_on_their_launcher(
    app, member, admin_teacher, people, sign_in_app
):
    application, _ = sign_in_app
    with app.app_context():
        members.assign(
            db.session,
            people.school_id,
            db.session.merge(application),
            members.Target(MemberRole.SCHOOL_ADMIN),
            by="test",
        )
        db.session.commit()
    sign_in_as_admin(member)
    home = member.flow.client.get("/members/")
    assert home.status_code == 200
    assert "Reading Rocket" in home.text


def test_the_settings_page_counts_school_admins_and_refuses_a_year_for_them(
    app, admin_teacher, people, school, school_admin
):
    client = app.test_client()
    console_sign_in(client, school_admin.email)
    with app.app_context():
        urn = db.session.merge(school).urn
    page = client.get(f"/schools/{urn}/sign-in")
    assert page.status_code == 200
    assert 'id="role-school_admin"' in page.text
    row = page.text.split('id="role-school_admin"', 1)[1].split("</tr>", 1)[0]
    assert "1 person" in row
    refused = client.post(
        f"/schools/{urn}/sign-in/assignments",
        data={
            "csrf_token": csrf_token(page.text),
            "application": "1",
            "role": "school_admin",
            "nc_year": "7",
        },
    )
    assert refused.status_code == 400


def test_without_a_school_named_the_account_s_own_is_used_or_chosen(
    app, member, admin_teacher, people, make_school
):
    client = member.flow.client
    console_sign_in(client, TEACHER_EMAIL)
    one = client.get("/members/sign-in/admin?next=/members/")
    assert one.status_code == 302
    assert one.headers["Location"] == f"/members/sign-in/admin?school={member.urn}&next=/members/"
    with app.app_context():
        other = make_school(name="Second Academy")
        user = db.session.get(User, admin_teacher.id)
        user.roles.append(
            RoleAssignment(role=Role.SCHOOL_ADMIN, school_id=other.id, can_manage=True)
        )
        db.session.commit()
    choice = client.get("/members/sign-in/admin")
    assert choice.status_code == 200
    assert f"/members/sign-in/admin?school={member.urn}" in choice.text
    assert f"/members/sign-in/admin?school={other.urn}" in choice.text
