"""The members' launcher: only apps assigned to them and connected to the school, per child for
a parent, each opened through our audited launch endpoint (to the app's sign-in start URL, or
its website); a teacher's own classes; magic links without account enumeration; and the
vendor's sign-in start URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from authserver.domain import grants, ingest, members
from authserver.domain.ingest import Changes, Origin
from authserver.domain.members import Target
from authserver.extensions import db
from authserver.models import Application, AuditEvent, Grant, OutboxMessage, User
from authserver.models.members import AppAssignment, MemberRole
from tests.connector.conftest import upn
from tests.consent.test_sessions import csrf
from tests.consent.vendor_forms import registration
from tests.launcher_world import connect, sign_in_member
from tests.school_people import People

ISSUER = "http://127.0.0.1:5000"


def give(app, school, application, role: MemberRole, **narrowed) -> int:
    with app.app_context():
        assignment = members.assign(
            db.session,
            school.id,
            db.session.get(Application, application.id),
            Target(role, **narrowed),
            by="test",
        )
        db.session.commit()
        return assignment.id


@pytest.fixture
def apps(app, make_app, school, school_admin):
    """Three connected apps: one with a sign-in start URL, one with only a website, one with
    neither; and one that is not connected."""
    made = {
        "rocket": make_app(
            name="Reading Rocket",
            initiate_login_uri="https://rocket.example.com/login?from=launcher",
            website_url="https://rocket.example.com/",
        )[0],
        "maths": make_app(name="Maths Mountain", website_url="https://maths.example.com/")[0],
        "bare": make_app(name="Bare App")[0],
        "unconnected": make_app(name="Never Approved", website_url="https://never.example.com/")[0],
    }
    for key in ("rocket", "maths", "bare"):
        connect(app, made[key], school, school_admin)
    return made


def launcher_of(app, school, login: str):
    browser = app.test_client()
    assert sign_in_member(browser, school.urn, login).status_code == 302
    return browser


def test_a_pupil_sees_big_links_through_our_launch_endpoint_only_for_connected_apps(
    app, school, people: People, apps
) -> None:
    for key in ("rocket", "maths", "unconnected"):
        give(app, school, apps[key], MemberRole.STUDENT)
    pupil = launcher_of(app, school, "zoe.obrien")
    page = pupil.get("/members/")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    links = re.findall(r'class="launch-card" href="([^"]+)"', html)
    assert links == [
        f"/members/apps/{apps['maths'].id}/open",
        f"/members/apps/{apps['rocket'].id}/open",
    ]
    assert "Never Approved" not in html
    assert html.count("Opens the app's website") == 1  # Maths Mountain has no sign-in start URL


def test_a_launch_goes_to_the_apps_sign_in_start_url_with_iss_and_is_audited(
    app, school, people: People, apps
) -> None:
    give(app, school, apps["rocket"], MemberRole.STUDENT)
    pupil = launcher_of(app, school, "zoe.obrien")
    opened = pupil.get(f"/members/apps/{apps['rocket'].id}/open")
    assert opened.status_code == 303
    target = urlsplit(opened.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "rocket.example.com", "/login")
    assert parse_qs(target.query) == {
        "from": ["launcher"],
        "iss": [ISSUER],
        "target_link_uri": ["https://rocket.example.com/"],
    }
    assert "login_hint" not in target.query  # no pupil's username in a vendor's logs
    with app.app_context():
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "application:launched")
        ).all()
        assert event.school_id == school.id
        assert event.application_id == apps["rocket"].id
        assert event.detail == {
            "member": people.pupil,
            "went_to": "https://rocket.example.com/login",
        }


def test_an_app_without_a_start_url_opens_its_website(app, school, people: People, apps) -> None:
    give(app, school, apps["maths"], MemberRole.STUDENT)
    give(app, school, apps["bare"], MemberRole.STUDENT)
    pupil = launcher_of(app, school, "zoe.obrien")
    opened = pupil.get(f"/members/apps/{apps['maths'].id}/open")
    assert opened.status_code == 303
    assert opened.headers["Location"] == "https://maths.example.com/"
    nowhere = pupil.get(f"/members/apps/{apps['bare'].id}/open")
    assert nowhere.status_code == 404
    assert "has not told us its web address" in nowhere.get_data(as_text=True)


def test_nothing_opens_that_is_not_on_the_members_launcher(
    app, school, school_admin, people: People, apps
) -> None:
    give(app, school, apps["rocket"], MemberRole.STUDENT, nc_year="9")
    give(app, school, apps["unconnected"], MemberRole.STUDENT)
    give(app, school, apps["maths"], MemberRole.STUDENT)
    pupil = launcher_of(app, school, "zoe.obrien")  # Year 7
    for key in ("rocket", "unconnected"):
        refused = pupil.get(f"/members/apps/{apps[key].id}/open")
        assert refused.status_code == 404
        assert "Your school has not given you this app" in refused.get_data(as_text=True)
    assert pupil.get("/members/apps/999999/open").status_code == 404
    # When the school withdraws access, the app leaves the launcher at once.
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.application_id == apps["maths"].id))
        grants.revoke(grant, by=db.session.get(User, school_admin.id))
        db.session.commit()
    assert "Maths Mountain" not in pupil.get("/members/").get_data(as_text=True)
    assert pupil.get(f"/members/apps/{apps['maths'].id}/open").status_code == 404
    signed_out = app.test_client().get(f"/members/apps/{apps['maths'].id}/open")
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"].startswith("/members/sign-in")


def second_child(app, school) -> None:
    """The parent's other child, Sam (Year 9), linked in the MIS."""
    changes = Changes()
    changes.upserts["student_contact"] = [
        (Origin(0), {"id": "sc2", "student_id": upn(2), "contact_id": "p1"})
    ]
    with app.app_context():
        ingest.apply(db.session, school.id, changes)
        db.session.commit()


def test_a_parent_sees_apps_per_child_by_their_year_groups(
    app, school, people: People, apps
) -> None:
    second_child(app, school)
    give(app, school, apps["rocket"], MemberRole.PARENT, nc_year="7")
    give(app, school, apps["maths"], MemberRole.PARENT, nc_year="9")
    give(app, school, apps["bare"], MemberRole.PARENT)
    give(app, school, apps["unconnected"], MemberRole.PARENT, nc_year="9")
    parent = launcher_of(app, school, "grace@home.test")
    html = parent.get("/members/").get_data(as_text=True)
    sections = re.findall(r"<h2 id=\"shelf-[^\"]+\">([^<]+)</h2>(.*?)</section>", html, re.S)
    shelves = {title: re.findall(r'class="launch-name">([^<]+)<', body) for title, body in sections}
    assert shelves == {
        "Apps for you": ["Bare App"],
        "Apps for Zoë (Year 7)": ["Reading Rocket"],
        "Apps for Sam (Year 9)": ["Maths Mountain"],
    }
    assert parent.get(f"/members/apps/{apps['maths'].id}/open").status_code == 303
    assert parent.get(f"/members/apps/{apps['unconnected'].id}/open").status_code == 404


# --- A teacher's classes ------------------------------------------------------------------------


def test_a_teacher_gives_an_app_to_their_class_and_takes_it_away(
    app, school, people: People, apps
) -> None:
    teacher = launcher_of(app, school, "ada@school.test")
    home = teacher.get("/members/").get_data(as_text=True)
    assert "Give apps to your classes" in home
    assert 'href="/members/badges"' in home  # and their classes' badge sheets
    page = teacher.get("/members/classes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "7M1: Maths 7M1" in html
    assert "Never Approved" not in html  # only connected apps are offered
    given = teacher.post(
        f"/members/classes/{people.class_id}/apps",
        data={"csrf_token": csrf(page), "application": str(apps["rocket"].id)},
        follow_redirects=True,
    )
    assert "Saved: the pupils of 7M1 now have Reading Rocket." in given.get_data(as_text=True)
    in_class = launcher_of(app, school, "zoe.obrien")
    not_in_class = launcher_of(app, school, "sam.okafor")
    assert "Reading Rocket" in in_class.get("/members/").get_data(as_text=True)
    assert "Reading Rocket" not in not_in_class.get("/members/").get_data(as_text=True)
    with app.app_context():
        [assignment] = db.session.scalars(select(AppAssignment)).all()
        assert (assignment.role, assignment.class_id) == ("student", people.class_id)
        assignment_id = assignment.id
    unconnected = teacher.post(
        f"/members/classes/{people.class_id}/apps",
        data={"csrf_token": csrf(page), "application": str(apps["unconnected"].id)},
    )
    assert unconnected.status_code == 400
    removed = teacher.post(
        f"/members/classes/{people.class_id}/apps/{assignment_id}/remove",
        data={"csrf_token": csrf(page)},
        follow_redirects=True,
    )
    assert "Removed the app from 7M1." in removed.get_data(as_text=True)
    assert "Reading Rocket" not in in_class.get("/members/").get_data(as_text=True)


def test_a_teacher_cannot_touch_another_teachers_class(app, school, people: People, apps) -> None:
    changes = Changes()
    changes.upserts["staff"] = [(Origin(0), {"id": "t2", "forename": "Alan", "surname": "Turing"})]
    changes.upserts["class"] = [
        (
            Origin(0),
            {"id": "c2", "code": "9X1", "name": "Science 9X1", "nc_year": "9", "staff_id": "t2"},
        )
    ]
    with app.app_context():
        ingest.apply(db.session, school.id, changes)
        from authserver.models.mis.structure import TeachingClass

        other_class = db.session.scalar(
            select(TeachingClass.id).where(TeachingClass.mis_id == "c2")
        )
        db.session.commit()
    other_assignment = give(app, school, apps["rocket"], MemberRole.STUDENT, class_id=other_class)
    teacher = launcher_of(app, school, "ada@school.test")
    page = teacher.get("/members/classes")
    assert "9X1" not in page.get_data(as_text=True)
    refused = teacher.post(
        f"/members/classes/{other_class}/apps",
        data={"csrf_token": csrf(page), "application": str(apps["maths"].id)},
    )
    assert refused.status_code == 404
    assert "not one of your classes" in refused.get_data(as_text=True)
    removal = teacher.post(
        f"/members/classes/{other_class}/apps/{other_assignment}/remove",
        data={"csrf_token": csrf(page)},
    )
    assert removal.status_code == 404
    # Nor, through their own class's address, another class's assignment.
    sideways = teacher.post(
        f"/members/classes/{people.class_id}/apps/{other_assignment}/remove",
        data={"csrf_token": csrf(page)},
    )
    assert sideways.status_code == 404
    with app.app_context():
        assert [a.id for a in db.session.scalars(select(AppAssignment))] == [other_assignment]


@pytest.mark.parametrize("login", ["zoe.obrien", "grace@home.test"])
def test_pupils_and_parents_cannot_use_the_teachers_page(
    app, school, people: People, apps, login
) -> None:
    member = launcher_of(app, school, login)
    page = member.get("/members/classes")
    assert page.status_code == 403
    assert "This page is for teachers" in page.get_data(as_text=True)
    home = member.get("/members/")
    posted = member.post(
        f"/members/classes/{people.class_id}/apps",
        data={"csrf_token": csrf(home), "application": str(apps["rocket"].id)},
    )
    assert posted.status_code == 403
    with app.app_context():
        assert db.session.scalars(select(AppAssignment)).all() == []


def test_the_teachers_page_asks_a_stranger_to_sign_in(client) -> None:
    answer = client.get("/members/classes")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/members/sign-in")


# --- Magic links --------------------------------------------------------------------------------


def ask_for_link(client, school, email: str):
    page = client.get(f"/members/magic-link?school={school.urn}")
    return client.post(
        "/members/magic-link",
        data={"csrf_token": csrf(page), "school": school.urn, "email": email},
    )


def mail_to(app, address: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address))
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_parent_signs_in_with_a_magic_link_and_nobody_learns_who_has_an_account(
    app, client, school, people: People
) -> None:
    answers = [
        ask_for_link(client, school, email)
        for email in ("GRACE@home.test", "nobody@home.test", "zoe.obrien")
    ]
    texts = {re.sub(r"If \S+ may", "If _ may", a.get_data(as_text=True)) for a in answers}
    assert {a.status_code for a in answers} == {200}
    assert len(texts) == 1  # the same page whoever asked
    assert mail_to(app, "nobody@home.test") == []
    [mail] = mail_to(app, "grace@home.test")
    path = re.search(r"https?://[^/\s]+(/\S+)", mail.text_body).group(1)
    parent = app.test_client()
    # Opening the link (as a mail scanner would) does not spend it.
    confirm = parent.get(path)
    assert confirm.status_code == 200
    assert parent.get(path).status_code == 200
    signed = parent.post(path, data={"csrf_token": csrf(confirm)})
    assert signed.status_code == 302
    assert "Hello, Grace O&#39;Brien" in parent.get("/members/").get_data(as_text=True)
    assert app.test_client().get(path).status_code == 410


def test_no_magic_link_for_a_role_the_school_turned_off(
    app, client, school, people: People
) -> None:
    with app.app_context():
        members.set_enabled_roles(db.session, school.id, [MemberRole.STUDENT], by="t")
        db.session.commit()
    assert ask_for_link(client, school, "ada@school.test").status_code == 200
    assert mail_to(app, "ada@school.test") == []


# --- The vendor's sign-in start URL -------------------------------------------------------------


def test_the_vendor_sets_and_clears_the_sign_in_start_url_beside_its_redirect_uris(
    app, signed_in, make_app
) -> None:
    application, _ = make_app()
    path = f"/vendor/applications/{application.id}/edit"
    page = signed_in.get(path)
    assert "Sign-in start URL (optional)" in page.get_data(as_text=True)
    base = registration(
        name="Register Radar",
        redirect_uris="https://app.example.com/callback",
        scope_StudentLite="required",
        purpose_StudentLite="Names.",
        scope_DietaryNeeds=None,
        purpose_DietaryNeeds=None,
    )
    for bad in ("http://app.example.com/start", "https://app.example.com/start#here"):
        refused = signed_in.post(
            path, data={"csrf_token": csrf(page), **base, "initiate_login_uri": bad}
        )
        assert refused.status_code == 400, bad
    saved = signed_in.post(
        path,
        data={
            "csrf_token": csrf(page),
            **base,
            "initiate_login_uri": "https://app.example.com/start",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Application, application.id).initiate_login_uri == (
            "https://app.example.com/start"
        )
    assert "https://app.example.com/start" in signed_in.get(path).get_data(as_text=True)
    cleared = signed_in.post(
        path, data={"csrf_token": csrf(page), **base, "initiate_login_uri": ""}
    )
    assert cleared.status_code == 302
    with app.app_context():
        assert db.session.get(Application, application.id).initiate_login_uri is None
