"""Pupils, teachers and parents signing in to their school's apps through the browser: the
same answer for every mismatch, only roles the school turned on, a fresh session each time,
short on a shared device, ended at sign-out on the server."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from authserver.domain import members
from authserver.domain.members import Target
from authserver.extensions import db
from authserver.models.audit import AuditEvent
from authserver.models.members import Member, MemberRole, MemberSession
from authserver.models.organisations import School
from tests.launcher_world import connect
from tests.oauth_flow import csrf_token
from tests.school_people import PASSWORD, People


def urn(app, school_id: int) -> str:
    with app.app_context():
        return db.session.get(School, school_id).urn


def sign_in(client, school_urn: str, login: str, password: str = PASSWORD, *, shared: bool = True):
    page = client.get(f"/members/sign-in?school={school_urn}")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "school": school_urn,
        "login": login,
        "password": password,
    }
    if shared:
        form["shared_device"] = "y"
    return client.post("/members/sign-in", data=form)


def test_a_pupil_signs_in_and_sees_the_apps_their_school_gave_them(
    app, client, people: People, make_app, school, school_admin
) -> None:
    reader, _ = make_app(name="Reading Rocket")
    connect(app, reader, school, school_admin)  # only a connected app is on the launcher
    with app.app_context():
        members.assign(
            db.session,
            people.school_id,
            db.session.merge(reader),
            Target(MemberRole.STUDENT),
            by="t",
        )
        db.session.commit()
    signed_in = sign_in(client, urn(app, people.school_id), "Zoe.OBrien")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/members/"
    home = client.get("/members/").get_data(as_text=True)
    assert "Hello, Zoë O&#39;Brien-Smith" in home
    assert "Reading Rocket" in home


def test_staff_and_parents_sign_in_with_their_email(app, client, people: People) -> None:
    school_urn = urn(app, people.school_id)
    assert sign_in(client, school_urn, "ADA@school.test").status_code == 302
    assert "Hello, Ada Lovelace" in client.get("/members/").get_data(as_text=True)


def test_every_mismatch_gets_the_same_answer(app, client, people: People, make_school) -> None:
    school_urn = urn(app, people.school_id)
    answers = [
        sign_in(client, school_urn, "zoe.obrien", "not the password"),
        sign_in(client, school_urn, "nobody.here"),
        sign_in(client, make_school(name="Another School").urn, "zoe.obrien"),
        sign_in(client, "999999", "zoe.obrien"),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert "Those details do not match" in answer.get_data(as_text=True)
    assert client.get("/members/").status_code == 302  # still not signed in
    with app.app_context():
        failed = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "member:sign_in_failed")
        ).all()
        assert failed == [{"member": people.pupil}]


def test_only_the_roles_the_school_turned_on_sign_in(app, client, people: People) -> None:
    with app.app_context():
        members.set_enabled_roles(db.session, people.school_id, [MemberRole.TEACHER], by="t")
        db.session.commit()
    school_urn = urn(app, people.school_id)
    refused = sign_in(client, school_urn, "zoe.obrien")
    assert refused.status_code == 401
    assert "has not turned on sign-in for you" in refused.get_data(as_text=True)
    assert sign_in(client, school_urn, "ada@school.test").status_code == 302


def test_turning_a_role_off_ends_its_sessions_at_once(app, client, people: People) -> None:
    assert sign_in(client, urn(app, people.school_id), "zoe.obrien").status_code == 302
    assert client.get("/members/").status_code == 200
    with app.app_context():
        members.set_enabled_roles(db.session, people.school_id, [MemberRole.PARENT], by="t")
        db.session.commit()
    assert client.get("/members/").status_code == 302


def test_each_sign_in_starts_a_new_session_and_sign_out_ends_it_on_the_server(
    app, client, people: People
) -> None:
    school_urn = urn(app, people.school_id)
    sign_in(client, school_urn, "zoe.obrien")
    first = client.get_cookie("session").value
    sign_in(client, school_urn, "zoe.obrien")
    assert client.get_cookie("session").value != first
    with app.app_context():
        live = db.session.scalars(
            select(MemberSession).where(MemberSession.ended_at.is_(None))
        ).all()
        assert len(live) == 2
    home = client.get("/members/").get_data(as_text=True)
    second = client.get_cookie("session").value
    client.post("/members/sign-out", data={"csrf_token": csrf_token(home)})
    assert client.get("/members/").status_code == 302
    with app.app_context():
        ended = db.session.scalars(
            select(MemberSession.ended_reason).order_by(MemberSession.id)
        ).all()
        assert ended == [None, "signed out"]
    # A copy of the cookie from before the sign-out is worth nothing.
    client.set_cookie("session", second)
    assert client.get("/members/").status_code == 302


def age(app, member_id: int, idle: dt.timedelta) -> None:
    """As if the member's sessions were last used `idle` ago."""
    with app.app_context():
        db.session.execute(
            update(MemberSession)
            .where(MemberSession.member_id == member_id)
            .values(last_seen_at=dt.datetime.now(dt.UTC) - idle)
        )
        db.session.commit()


def test_a_session_on_a_shared_device_ends_after_ten_idle_minutes(
    app, client, people: People
) -> None:
    sign_in(client, urn(app, people.school_id), "zoe.obrien", shared=True)
    age(app, people.pupil, dt.timedelta(minutes=9))
    assert client.get("/members/").status_code == 200
    age(app, people.pupil, dt.timedelta(minutes=11))
    assert client.get("/members/").status_code == 302


def test_on_a_device_of_their_own_a_session_lasts_longer(app, client, people: People) -> None:
    sign_in(client, urn(app, people.school_id), "ada@school.test", shared=False)
    age(app, people.teacher, dt.timedelta(minutes=90))
    assert client.get("/members/").status_code == 200
    age(app, people.teacher, dt.timedelta(minutes=121))
    assert client.get("/members/").status_code == 302


def test_a_disabled_member_cannot_sign_in(app, client, people: People) -> None:
    with app.app_context():
        db.session.get(Member, people.pupil).disabled_at = dt.datetime.now(dt.UTC)
        db.session.commit()
    assert sign_in(client, urn(app, people.school_id), "zoe.obrien").status_code == 401
