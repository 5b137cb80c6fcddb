"""The class badge sheet and badge sign-in over HTTP: who may see and print a class's badges
(its teacher, the school's admins; nobody else), the PDF (one badge per pupil, six to an A4
page, their names), reissuing, and signing in with a badge, throttled as a classroom needs."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from authserver.domain import badges, credentials, ingest
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.models import Role
from authserver.models.audit import AuditEvent
from authserver.models.badges import MemberBadge
from authserver.models.members import Member, MemberSession
from authserver.models.organisations import School
from tests.connector.conftest import upn
from tests.consent.test_member_signin import sign_in as member_sign_in
from tests.consent.test_member_signin import urn
from tests.oauth_flow import csrf_token, sign_in
from tests.school_people import People

A4_POINTS = (595.28, 841.89)


@pytest.fixture
def app_settings() -> dict[str, object]:
    return {
        "BADGE_SIGN_INS_PER_BADGE": "3 per 10 minutes",
        "BADGE_SIGN_IN_FAILURES_PER_ADDRESS": "5 per 10 minutes",
    }


@pytest.fixture
def made_secrets(monkeypatch) -> list[str]:
    """Every secret made during the test, in order (the badges' secrets among them)."""
    made: list[str] = []
    real = credentials.new_secret

    def recording() -> str:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(credentials, "new_secret", recording)
    return made


def add_pupils_to_class(school_id: int, count: int) -> None:
    """`count` more pupils, not yet members, in class 7M1 (as the MIS would send them)."""
    changes = Changes()
    changes.upserts["student"] = [
        (Origin(i), {"upn": upn(10 + i), "forename": f"Pupil{i}", "surname": f"Surname{i:02}"})
        for i in range(count)
    ]
    changes.upserts["class_membership"] = [
        (Origin(i), {"id": f"extra{i}", "class_id": "c1", "student_id": upn(10 + i)})
        for i in range(count)
    ]
    ingest.apply(db.session, school_id, changes)
    db.session.commit()


def teacher_client(app, client, people: People):
    assert member_sign_in(client, urn(app, people.school_id), "ada@school.test").status_code == 302
    return client


def sheet_url(people: People, school_urn: str | None = None) -> str:
    if school_urn:
        return f"/schools/{school_urn}/classes/{people.class_id}/badges"
    return f"/members/classes/{people.class_id}/badges"


def post(client, page_url: str, action: str, **data):
    page = client.get(page_url)
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    return client.post(f"{page_url}/{action}", data={"csrf_token": token, **data})


def pdf_of(response) -> PdfReader:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="badges-7M1.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(response.data))


def text_of(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def sign_in_with_badge(client, secret: str | None):
    page = client.get("/members/badge")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.get_data(as_text=True))}
    if secret is not None:
        data["badge"] = secret
    return client.post("/members/badge", data=data)


# --- Who may see and print a class's badges --------------------------------------------------


def test_a_teacher_prints_badges_for_their_class_six_to_an_a4_page(
    app, client, people: People, made_secrets
) -> None:
    with app.app_context():
        add_pupils_to_class(people.school_id, 6)  # with Zoë: seven pupils, two pages
    teacher_client(app, client, people)
    page = client.get(sheet_url(people)).get_data(as_text=True)
    assert "Zoë O&#39;Brien-Smith" in page
    assert "7 pupils have no badge yet" in page
    reader = pdf_of(post(client, sheet_url(people), "print"))
    assert len(reader.pages) == 2
    assert all(
        (round(float(p.mediabox.width), 2), round(float(p.mediabox.height), 2)) == A4_POINTS
        for p in reader.pages
    )
    text = text_of(reader)
    assert "Zoë O'Brien-Smith" in text
    assert all(f"Surname{i:02}" in text for i in range(6))
    assert "Lost it? Tell your teacher" in text
    assert "Sam Okafor" not in text  # in Year 9, not in 7M1
    with app.app_context():
        made = db.session.scalars(select(MemberBadge)).all()
        assert len(made) == 7
        assert {b.issued_by for b in made} == {"ada@school.test"}
        # The six pupils who were not members became members for their badges.
        assert db.session.query(Member).count() == 4 + 6
        assert {b.secret_digest for b in made} <= {credentials.digest(s) for s in made_secrets}
    # A badge printed on that sheet signs its pupil in.
    other = app.test_client()
    badge_secrets = [
        s for s in made_secrets if credentials.digest(s) in {b.secret_digest for b in made}
    ]
    assert sign_in_with_badge(other, badge_secrets[0]).headers["Location"] == "/members/"
    # Printing again prints nobody: every pupil has a badge.
    again = post(client, sheet_url(people), "print")
    assert again.status_code == 303
    assert "already has a badge" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_a_teacher_sees_only_the_classes_they_teach(app, client, people: People) -> None:
    with app.app_context():
        changes = Changes()
        changes.upserts["class"] = [
            (Origin(0), {"id": "c2", "code": "9S2", "name": "Science 9S2", "nc_year": "9"})
        ]
        ingest.apply(db.session, people.school_id, changes)
        db.session.commit()
        from authserver.models.mis.structure import TeachingClass

        other_class = db.session.scalar(
            select(TeachingClass.id).where(TeachingClass.mis_id == "c2")
        )
    teacher_client(app, client, people)
    listing = client.get("/members/badges").get_data(as_text=True)
    assert "7M1" in listing
    assert "9S2" not in listing
    assert client.get(f"/members/classes/{other_class}/badges").status_code == 404
    token = csrf_token(client.get(sheet_url(people)).get_data(as_text=True))
    refused = client.post(
        f"/members/classes/{other_class}/badges/print", data={"csrf_token": token}
    )
    assert refused.status_code == 404


def test_pupils_and_parents_have_no_badge_sheet(app, client, people: People) -> None:
    for login in ("zoe.obrien", "grace@home.test"):
        assert member_sign_in(client, urn(app, people.school_id), login).status_code == 302
        assert client.get(sheet_url(people)).status_code == 404
        assert client.get("/members/badges").status_code == 404


def test_signed_out_people_are_sent_to_sign_in(app, client, people: People) -> None:
    school_urn = urn(app, people.school_id)
    assert client.get(sheet_url(people)).headers["Location"].startswith("/members/sign-in")
    assert client.get(sheet_url(people, school_urn)).headers["Location"].startswith("/sign-in")


def test_a_school_admin_prints_and_another_schools_admin_is_refused(
    app, client, people: People, school_admin, make_school, make_user
) -> None:
    school_urn = urn(app, people.school_id)
    assert sign_in(client, school_admin.email).status_code == 302
    assert "7M1" in client.get(f"/schools/{school_urn}/badges").get_data(as_text=True)
    reader = pdf_of(post(client, sheet_url(people, school_urn), "print"))
    assert len(reader.pages) == 1
    assert "Zoë O'Brien-Smith" in text_of(reader)
    with app.app_context():
        assert db.session.scalar(select(MemberBadge.issued_by)) == school_admin.email

    stranger = make_user(Role.SCHOOL_ADMIN, school=make_school(name="Another School"))
    outsider = app.test_client()
    assert sign_in(outsider, stranger.email).status_code == 302
    assert outsider.get(f"/schools/{school_urn}/badges").status_code == 404
    assert outsider.get(sheet_url(people, school_urn)).status_code == 404
    token = csrf_token(outsider.get("/account").get_data(as_text=True))
    refused = outsider.post(f"{sheet_url(people, school_urn)}/print", data={"csrf_token": token})
    assert refused.status_code == 404


def test_an_admin_who_may_only_view_sees_the_sheet_but_makes_no_badge(
    app, client, people: People, make_user
) -> None:
    with app.app_context():
        school = db.session.get(School, people.school_id)
    viewer = make_user(Role.SCHOOL_ADMIN, school=school, can_manage=False, can_approve=False)
    assert sign_in(client, viewer.email).status_code == 302
    page = client.get(sheet_url(people, school.urn))
    assert page.status_code == 200
    assert "Only a colleague who may manage" in page.get_data(as_text=True)
    token = csrf_token(client.get("/account").get_data(as_text=True))
    assert (
        client.post(
            f"{sheet_url(people, school.urn)}/print", data={"csrf_token": token}
        ).status_code
        == 403
    )
    with app.app_context():
        assert db.session.scalars(select(MemberBadge)).all() == []


def test_every_form_needs_its_csrf_token(app, client, people: People) -> None:
    teacher_client(app, client, people)
    assert client.post(f"{sheet_url(people)}/print").status_code == 400
    assert client.post("/members/badge", data={"badge": "x"}).status_code == 400


# --- Reissuing ---------------------------------------------------------------------------------


def test_reissuing_one_pupils_badge_stops_the_old_one_and_signs_them_out(
    app, client, people: People, made_secrets
) -> None:
    teacher_client(app, client, people)
    pdf_of(post(client, sheet_url(people), "print"))
    [old] = [s for s in made_secrets if _is_badge(app, s)]
    pupil_device = app.test_client()
    assert sign_in_with_badge(pupil_device, old).status_code == 302
    assert pupil_device.get("/members/").status_code == 200

    with app.app_context():
        pupil_id = db.session.get(Member, people.pupil).student_id
    reader = pdf_of(post(client, sheet_url(people), f"pupils/{pupil_id}/reissue"))
    assert len(reader.pages) == 1
    assert "Zoë O'Brien-Smith" in text_of(reader)
    assert pupil_device.get("/members/").status_code == 302  # signed out at once
    refused = sign_in_with_badge(pupil_device, old)
    assert refused.status_code == 401
    [new] = [s for s in made_secrets if _is_badge(app, s) and s != old]
    assert sign_in_with_badge(app.test_client(), new).status_code == 302
    with app.app_context():
        logged = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert [a for a in logged if "badge" in a] == [
            "member:badge_issued",
            "member:badge_reissued",
            "member:badge_refused",
        ]


def test_reissuing_the_whole_class_asks_first(app, client, people: People, made_secrets) -> None:
    with app.app_context():
        add_pupils_to_class(people.school_id, 2)
    teacher_client(app, client, people)
    pdf_of(post(client, sheet_url(people), "print"))
    first = [s for s in made_secrets if _is_badge(app, s)]
    unconfirmed = post(client, sheet_url(people), "reissue")
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    assert all(_is_live_badge(app, s) for s in first)
    reader = pdf_of(post(client, sheet_url(people), "reissue", confirm="y"))
    assert len(reader.pages) == 1
    assert "Surname01" in text_of(reader)
    assert not any(_is_live_badge(app, s) for s in first)
    with app.app_context():
        assert db.session.query(MemberBadge).filter(MemberBadge.revoked_at.is_(None)).count() == 3


def test_one_pupil_of_another_class_cannot_be_reissued_here(app, client, people: People) -> None:
    teacher_client(app, client, people)
    with app.app_context():
        year9 = db.session.get(Member, people.other_pupil).student_id
    assert post(client, sheet_url(people), f"pupils/{year9}/reissue").status_code == 404


def _is_badge(app, secret: str) -> bool:
    with app.app_context():
        return bool(
            db.session.scalar(
                select(MemberBadge.id).where(
                    MemberBadge.secret_digest == credentials.digest(secret)
                )
            )
        )


def _is_live_badge(app, secret: str) -> bool:
    with app.app_context():
        return bool(
            db.session.scalar(
                select(MemberBadge.id).where(
                    MemberBadge.secret_digest == credentials.digest(secret),
                    MemberBadge.revoked_at.is_(None),
                )
            )
        )


# --- Signing in with a badge -------------------------------------------------------------------


def issued(app, people: People) -> str:
    with app.app_context():
        secret = badges.issue(db.session, db.session.get(Member, people.pupil), by="test")
        db.session.commit()
        return secret


def test_a_badge_signs_its_pupil_in_on_a_shared_device(app, client, people: People) -> None:
    secret = issued(app, people)
    page = client.get("/members/badge").get_data(as_text=True)
    assert 'src="/static/vendor/jsqr-1.4.0/jsQR.js"' in page
    assert "Ask your teacher for help" in page
    answer = sign_in_with_badge(client, secret)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/members/"
    assert "Hello, Zoë O&#39;Brien-Smith" in client.get("/members/").get_data(as_text=True)
    with app.app_context():
        session_row = db.session.scalar(select(MemberSession))
        assert (session_row.method, session_row.shared_device) == ("qr", True)
        assert session_row.idle_timeout_seconds == 600
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member:signed_in"))
        assert event.detail["method"] == "qr"
        assert event.detail["badge"] is not None


def test_the_badge_link_keeps_the_secret_out_of_every_url(app, client, people: People) -> None:
    """The QR code holds the link with the secret after `#`: browsers never send a fragment,
    and the page posts the secret in its form's body."""
    page = client.get("/members/badge").get_data(as_text=True)
    link = re.search(r'data-badge-link="([^"]+)"', page).group(1)
    assert link == app.config["SETTINGS"].issuer + "/members/badge"
    assert re.search(r'<form method="post" id="badge-form"', page)


@pytest.mark.parametrize("case", ["unknown", "replaced", "disabled", "role off", "empty", "long"])
def test_every_bad_badge_gets_the_same_answer(app, client, people: People, case) -> None:
    secret = issued(app, people)
    with app.app_context():
        member = db.session.get(Member, people.pupil)
        if case == "replaced":
            badges.issue(db.session, member, by="test")
        elif case == "disabled":
            import datetime as dt

            member.disabled_at = dt.datetime.now(dt.UTC)
        elif case == "role off":
            from authserver.domain import members

            members.set_enabled_roles(db.session, people.school_id, ["teacher"], by="test")
        db.session.commit()
    presented = {
        "unknown": credentials.new_secret(),
        "empty": None,
        "long": "A" * 500,
    }.get(case, secret)
    answer = sign_in_with_badge(client, presented)
    assert answer.status_code == 401
    assert "That badge did not work. Ask your teacher for help" in answer.get_data(as_text=True)
    assert client.get("/members/").status_code == 302


def test_one_badge_tried_too_often_waits_but_its_classmates_do_not(
    app, client, people: People
) -> None:
    old = issued(app, people)
    issued(app, people)  # Zoë's badge was replaced: the old one is refused
    for _ in range(3):
        assert sign_in_with_badge(client, old).status_code == 401
    stopped = sign_in_with_badge(client, old)
    assert stopped.status_code == 429
    assert int(stopped.headers["Retry-After"]) > 0
    # Sam, on the same device and address, signs in.
    with app.app_context():
        sam = badges.issue(db.session, db.session.get(Member, people.other_pupil), by="test")
        db.session.commit()
    assert sign_in_with_badge(client, sam).status_code == 302


def test_successful_sign_ins_never_spend_the_addresss_allowance(
    app, client, people: People
) -> None:
    with app.app_context():
        sam = db.session.get(Member, people.other_pupil)
        pupils = [badges.issue(db.session, sam, by="test")]
        db.session.commit()
    for secret in pupils * 3:  # the per-badge limit is 3
        assert sign_in_with_badge(client, secret).status_code == 302
    for _ in range(5):  # five refusals: the address limit
        assert sign_in_with_badge(client, credentials.new_secret()).status_code == 401
    assert sign_in_with_badge(client, credentials.new_secret()).status_code == 429
