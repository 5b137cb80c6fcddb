"""The school's sign-in pages for its pupils, staff and parents: roles on and off, connected
apps given to a role, year group or class and taken away, people added from the MIS, a
pupil's password shown once, staff and parents invited by email; who may do each."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver.domain import members
from authserver.extensions import db
from authserver.models import AuditEvent, OutboxMessage, Role
from authserver.models.members import AppAssignment, Member, MemberRole, MemberSession
from tests.consent.test_mis_data_pages import signed_in
from tests.consent.test_sessions import csrf
from tests.launcher_world import connect, sign_in_member
from tests.school_people import People, receive_people


@pytest.fixture
def viewer(make_user, school):
    """A school admin who may view, not manage."""
    return make_user(Role.SCHOOL_ADMIN, school=school, can_manage=False, can_approve=False)


@pytest.fixture
def connected_app(app, make_app, school, school_admin):
    application, _ = make_app(name="Reading Rocket")
    connect(app, application, school, school_admin)
    return application


def actions(app, action: str) -> list[dict]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == action))
        )


def settings_page(client, school):
    return client.get(f"/schools/{school.urn}/sign-in")


def test_the_admin_turns_roles_on_and_off_and_sees_how_many_of_each(
    app, client, school, school_admin, people: People
) -> None:
    signed_in(client, school_admin)
    page = settings_page(client, school)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert re.search(r"Pupils</th>\s*<td>2 people</td>\s*<td>On</td>", text)
    saved = client.post(
        f"/schools/{school.urn}/sign-in/roles",
        data={"csrf_token": csrf(page), "roles": ["student", "parent"]},
        follow_redirects=True,
    )
    assert "Saved. Who may sign in: pupils; parents and carers." in saved.get_data(as_text=True)
    assert re.search(
        r"Teachers and other staff</th>\s*<td>1 person</td>\s*<td>Off</td>",
        saved.get_data(as_text=True),
    )
    with app.app_context():
        assert members.enabled_roles(db.session, school.id) == {
            MemberRole.STUDENT,
            MemberRole.PARENT,
        }
    assert actions(app, "school:sign_in_roles_changed")[-1]["after"] == ["parent", "student"]
    # The teacher turned off cannot sign in any more.
    assert sign_in_member(app.test_client(), school.urn, "ada@school.test").status_code == 401
    nobody = client.post(f"/schools/{school.urn}/sign-in/roles", data={"csrf_token": csrf(page)})
    assert nobody.status_code == 302
    with app.app_context():
        assert members.enabled_roles(db.session, school.id) == frozenset()


def test_only_connected_apps_can_be_given_and_each_gift_is_confirmed_and_audited(
    app, client, school, school_admin, people: People, make_app, connected_app
) -> None:
    unconnected, _ = make_app(name="Never Approved")
    signed_in(client, school_admin)
    page = settings_page(client, school)
    text = page.get_data(as_text=True)
    assert "Reading Rocket" in text
    assert "Never Approved" not in text
    refused = client.post(
        f"/schools/{school.urn}/sign-in/assignments",
        data={"csrf_token": csrf(page), "application": str(unconnected.id), "role": "student"},
    )
    assert refused.status_code == 400
    given = client.post(
        f"/schools/{school.urn}/sign-in/assignments",
        data={
            "csrf_token": csrf(page),
            "application": str(connected_app.id),
            "role": "student",
            "nc_year": "7",
        },
        follow_redirects=True,
    )
    assert "Saved: pupils in Year 7 now have Reading Rocket." in given.get_data(as_text=True)
    [detail] = actions(app, "application:assigned")
    assert detail == {"role": "student", "nc_year": "7", "class_id": None}
    # The Year 7 pupil sees it; the Year 9 pupil does not.
    year7, year9 = app.test_client(), app.test_client()
    sign_in_member(year7, school.urn, "zoe.obrien")
    sign_in_member(year9, school.urn, "sam.okafor")
    assert "Reading Rocket" in year7.get("/members/").get_data(as_text=True)
    assert "Reading Rocket" not in year9.get("/members/").get_data(as_text=True)


def test_an_app_is_given_to_one_class_and_taken_away(
    app, client, school, school_admin, people: People, connected_app
) -> None:
    signed_in(client, school_admin)
    page = settings_page(client, school)
    assert "7M1 (Maths 7M1)" in page.get_data(as_text=True)
    given = client.post(
        f"/schools/{school.urn}/sign-in/assignments",
        data={
            "csrf_token": csrf(page),
            "application": str(connected_app.id),
            "role": "student",
            "class_id": str(people.class_id),
        },
        follow_redirects=True,
    )
    assert "Saved: pupils in class 7M1 now have Reading Rocket." in given.get_data(as_text=True)
    with app.app_context():
        [assignment_id] = db.session.scalars(select(AppAssignment.id)).all()
    removed = client.post(
        f"/schools/{school.urn}/sign-in/assignments/{assignment_id}/remove",
        data={"csrf_token": csrf(page)},
        follow_redirects=True,
    )
    assert "Removed: pupils in class 7M1 no longer have Reading Rocket." in removed.get_data(
        as_text=True
    )
    assert actions(app, "application:unassigned")
    with app.app_context():
        assert db.session.scalars(select(AppAssignment)).all() == []


@pytest.mark.parametrize(
    ("choice", "problem"),
    [
        ({"role": "parent", "class_id": "CLASS"}, "choose a year group instead of a class"),
        ({"role": "student", "nc_year": "7", "class_id": "CLASS"}, "not both"),
        ({"role": "teacher", "nc_year": "7"}, "Staff are not in a year group"),
        ({}, "Choose who gets the app."),
        ({"role": "pupil"}, "Not a valid choice"),
    ],
)
def test_a_gift_that_cannot_be_made_is_explained(
    app, client, school, school_admin, people: People, connected_app, choice, problem
) -> None:
    signed_in(client, school_admin)
    page = settings_page(client, school)
    data = {"csrf_token": csrf(page), "application": str(connected_app.id)}
    data.update({k: str(people.class_id) if v == "CLASS" else v for k, v in choice.items()})
    refused = client.post(f"/schools/{school.urn}/sign-in/assignments", data=data)
    assert refused.status_code == 400
    assert problem in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(AppAssignment)).all() == []


def changes(school, people: People, assignment_id: int = 0) -> list[tuple[str, dict]]:
    base = f"/schools/{school.urn}/sign-in"
    return [
        (f"{base}/roles", {"roles": ["student"]}),
        (f"{base}/assignments", {"role": "student"}),
        (f"{base}/assignments/{assignment_id}/remove", {}),
        (f"{base}/people", {"group": "staff"}),
        (f"{base}/people/{people.pupil}/password", {}),
        (f"{base}/people/{people.teacher}/invite", {}),
    ]


def _one_assignment(app, school, application) -> int:
    from authserver.domain.members import Target
    from authserver.models import Application

    with app.app_context():
        assignment = members.assign(
            db.session,
            school.id,
            db.session.get(Application, application.id),
            Target(MemberRole.STUDENT),
            by="test",
        )
        db.session.commit()
        return assignment.id


def test_a_viewer_sees_the_pages_but_every_change_is_refused(
    app, client, school, viewer, people: People, connected_app
) -> None:
    assignment_id = _one_assignment(app, school, connected_app)
    signed_in(client, viewer)
    page = settings_page(client, school)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "a colleague who may manage can change them" in text
    assert "Save who may sign in" not in text
    people_page = client.get(f"/schools/{school.urn}/sign-in/people")
    assert people_page.status_code == 200
    assert "Make a new password" not in people_page.get_data(as_text=True)
    for path, data in changes(school, people, assignment_id):
        assert client.post(path, data={"csrf_token": csrf(page), **data}).status_code == 403, path
    with app.app_context():
        assert members.enabled_roles(db.session, school.id) == set(MemberRole)
        assert db.session.get(AppAssignment, assignment_id) is not None


def test_another_schools_admin_finds_nothing(
    app, client, school, make_school, make_user, people: People, connected_app
) -> None:
    assignment_id = _one_assignment(app, school, connected_app)
    elsewhere = make_user(Role.SCHOOL_ADMIN, school=make_school(name="Elsewhere"))
    signed_in(client, elsewhere)
    assert settings_page(client, school).status_code == 404
    assert client.get(f"/schools/{school.urn}/sign-in/people").status_code == 404
    page = client.get("/account")
    for path, data in changes(school, people, assignment_id):
        assert client.post(path, data={"csrf_token": csrf(page), **data}).status_code == 404, path


def test_signed_out_visitors_are_sent_to_sign_in(client, school) -> None:
    answer = settings_page(client, school)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/sign-in")


# --- People from the MIS ------------------------------------------------------------------------


def enrol(client, school, **data):
    page = client.get(f"/schools/{school.urn}/sign-in/people")
    return client.post(
        f"/schools/{school.urn}/sign-in/people",
        data={"csrf_token": csrf(page), **data},
        follow_redirects=True,
    )


def roles_of_members(app, school) -> list[tuple[str, str | None]]:
    with app.app_context():
        return sorted(
            (m.role.value, m.username or m.email)
            for m in db.session.scalars(select(Member).where(Member.school_id == school.id))
        )


def test_the_admin_adds_people_from_the_mis_a_group_at_a_time(
    app, client, school, school_admin
) -> None:
    with app.app_context():
        receive_people(school.id)
        db.session.commit()
    signed_in(client, school_admin)
    added = enrol(client, school, group="year", nc_year="7")
    assert "Added 1 person." in added.get_data(as_text=True)
    assert roles_of_members(app, school) == [("student", "zoe.obriensmith")]
    again = enrol(client, school, group="class", class_id=_class_id(app))
    assert "Added 0 people. 1 could sign in already." in again.get_data(as_text=True)
    enrol(client, school, group="staff")
    enrol(client, school, group="parents", nc_year="7")
    assert roles_of_members(app, school) == [
        ("parent", "grace@home.test"),
        ("student", "zoe.obriensmith"),
        ("teacher", "ada@school.test"),
    ]
    assert len(actions(app, "member:enrolled")) == 3
    nobody = enrol(client, school, group="year", nc_year="")
    assert "Choose the year group." in nobody.get_data(as_text=True)


def _class_id(app) -> str:
    from authserver.models.mis.structure import TeachingClass

    with app.app_context():
        return str(db.session.scalar(select(TeachingClass.id)))


def test_a_pupils_new_password_is_shown_once_and_works(
    app, client, school, school_admin, people: People
) -> None:
    pupil_browser = app.test_client()
    assert sign_in_member(pupil_browser, school.urn, "zoe.obrien").status_code == 302
    signed_in(client, school_admin)
    page = client.get(f"/schools/{school.urn}/sign-in/people")
    shown = client.post(
        f"/schools/{school.urn}/sign-in/people/{people.pupil}/password",
        data={"csrf_token": csrf(page)},
    )
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    text = shown.get_data(as_text=True)
    assert "it will not be shown again" in text
    password = re.search(r'id="new-password" value="([^"]+)"', text).group(1)
    assert re.fullmatch(r"[a-z]+-[a-z]+-[a-z]+-\d\d", password)
    # Not in any later page, and stored only as a bcrypt hash.
    assert password not in client.get(f"/schools/{school.urn}/sign-in/people").get_data(
        as_text=True
    )
    with app.app_context():
        member = db.session.get(Member, people.pupil)
        assert member.password_hash.startswith("$2")
        assert password not in member.password_hash
        # Whoever was signed in with the old password is signed out.
        assert all(s.ended_at for s in db.session.scalars(select(MemberSession)))
    assert pupil_browser.get("/members/").status_code == 302
    assert sign_in_member(app.test_client(), school.urn, "zoe.obrien").status_code == 401
    assert sign_in_member(app.test_client(), school.urn, "zoe.obrien", password).status_code == 302
    teacher = client.post(
        f"/schools/{school.urn}/sign-in/people/{people.teacher}/password",
        data={"csrf_token": csrf(page)},
    )
    assert teacher.status_code == 400
    assert "choose their own password" in teacher.get_data(as_text=True)


def outbox(app, to: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.to_address == to)
                .order_by(OutboxMessage.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def link_in(message: OutboxMessage) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", message.text_body).group(1)


def test_a_teacher_invited_by_email_chooses_a_password_and_is_signed_in(
    app, client, school, school_admin, people: People
) -> None:
    with app.app_context():
        db.session.get(Member, people.teacher).password_hash = None
        db.session.commit()
    signed_in(client, school_admin)
    page = client.get(f"/schools/{school.urn}/sign-in/people")
    sent = client.post(
        f"/schools/{school.urn}/sign-in/people/{people.teacher}/invite",
        data={"csrf_token": csrf(page)},
        follow_redirects=True,
    )
    assert "Sent Ada Lovelace an email to choose a password" in sent.get_data(as_text=True)
    assert "Email sent, waiting" in sent.get_data(as_text=True)
    [mail] = outbox(app, "ada@school.test")
    assert mail.template_name == "member_invitation"
    path = link_in(mail)
    assert path.startswith("/members/invitations/")
    assert actions(app, "member:invited") == [{"member": people.teacher}]

    teacher = app.test_client()
    form = teacher.get(path)
    assert form.status_code == 200
    assert "ada@school.test" in form.get_data(as_text=True)
    weak = teacher.post(
        path, data={"csrf_token": csrf(form), "password": "password", "confirm": "password"}
    )
    assert weak.status_code == 400
    chosen = "violet harbour lantern ninety"
    done = teacher.post(
        path, data={"csrf_token": csrf(form), "password": chosen, "confirm": chosen}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/members/"
    assert "Hello, Ada Lovelace" in teacher.get("/members/").get_data(as_text=True)
    # Used once only; the password works at the sign-in page.
    assert app.test_client().get(path).status_code == 410
    assert (
        sign_in_member(app.test_client(), school.urn, "ada@school.test", chosen).status_code == 302
    )
    pupil = client.post(
        f"/schools/{school.urn}/sign-in/people/{people.pupil}/invite",
        data={"csrf_token": csrf(page)},
    )
    assert pupil.status_code == 400
    assert "set a password for them instead" in pupil.get_data(as_text=True)


@pytest.mark.parametrize("token", ["not-a-token", "x" * 200])
def test_a_bad_invitation_link_gets_a_readable_page(client, token) -> None:
    answer = client.get(f"/members/invitations/{token}")
    assert answer.status_code == 410
    assert "This link cannot be used" in answer.get_data(as_text=True)


def test_a_pupil_without_a_username_gets_one_with_their_password(
    app, client, school, school_admin, people: People
) -> None:
    with app.app_context():
        db.session.get(Member, people.other_pupil).username = None
        db.session.commit()
    signed_in(client, school_admin)
    page = client.get(f"/schools/{school.urn}/sign-in/people")
    shown = client.post(
        f"/schools/{school.urn}/sign-in/people/{people.other_pupil}/password",
        data={"csrf_token": csrf(page)},
    ).get_data(as_text=True)
    assert "<code>sam.okafor</code>" in shown
    password = re.search(r'id="new-password" value="([^"]+)"', shown).group(1)
    assert sign_in_member(app.test_client(), school.urn, "sam.okafor", password).status_code == 302
