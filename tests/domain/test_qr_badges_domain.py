"""Pupils' QR badges in the domain: a secret shown once and kept as a digest, reissuing stops
the old badge and the pupil's sessions at once, and only a live badge of a pupil who may sign
in finds them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from authserver.domain import badges, member_sessions, members
from authserver.domain.credentials import digest
from authserver.extensions import db
from authserver.models.audit import AuditEvent
from authserver.models.badges import MemberBadge
from authserver.models.members import Member, MemberRole, MemberSession
from authserver.models.mis.structure import TeachingClass
from tests.school_people import People

LIMITS = member_sessions.Limits()


def pupil(people: People) -> Member:
    return db.session.get(Member, people.pupil)


def actions(member_id: int) -> list[tuple[str, dict]]:
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    return [(e.action, e.detail) for e in events if e.detail.get("member") == member_id]


def test_a_badge_is_a_fresh_secret_kept_only_as_its_digest(app, people) -> None:
    with app.app_context():
        secret = badges.issue(db.session, pupil(people), by="ada@school.test")
        assert len(secret) >= 43  # 256 bits, URL-safe
        [badge] = db.session.scalars(select(MemberBadge)).all()
        assert badge.secret_digest == digest(secret)
        assert secret not in str(
            [badge.secret_digest, badge.issued_by, *(d for _, d in actions(people.pupil))]
        )
        assert badge.issued_by == "ada@school.test"
        assert badges.member_for(db.session, secret).id == people.pupil
        assert ("member:badge_issued", {"member": people.pupil, "badge": badge.id}) in actions(
            people.pupil
        )


def test_reissuing_stops_the_old_badge_at_once_and_ends_the_pupils_sessions(app, people) -> None:
    with app.app_context():
        member = pupil(people)
        old = badges.issue(db.session, member, by="t")
        token = member_sessions.start(db.session, member, LIMITS, method="qr", shared_device=True)
        new = badges.issue(db.session, member, by="t")
        assert badges.member_for(db.session, old) is None
        assert badges.member_for(db.session, new).id == people.pupil
        assert member_sessions.live(db.session, token) is None
        assert db.session.scalar(select(MemberSession.ended_reason)) == "badge reissued"
        live = db.session.scalars(select(MemberBadge).where(MemberBadge.revoked_at.is_(None))).all()
        assert len(live) == 1
        logged = [a for a, _ in actions(people.pupil)]
        assert logged[-2:] == ["member:badge_reissued", "member:badge_refused"]
        reissued = dict(actions(people.pupil))["member:badge_reissued"]
        assert reissued["sessions_ended"] == 1


def test_a_first_badge_signs_nobody_out(app, people) -> None:
    with app.app_context():
        member = pupil(people)
        token = member_sessions.start(db.session, member, LIMITS, method="pwd", shared_device=True)
        badges.issue(db.session, member, by="t")
        assert member_sessions.live(db.session, token) is not None


def test_a_disabled_pupil_or_a_role_turned_off_is_refused(app, people) -> None:
    with app.app_context():
        member = pupil(people)
        secret = badges.issue(db.session, member, by="t")
        member.disabled_at = dt.datetime.now(dt.UTC)
        assert badges.member_for(db.session, secret) is None
        member.disabled_at = None
        members.set_enabled_roles(db.session, people.school_id, [MemberRole.TEACHER], by="t")
        assert badges.member_for(db.session, secret) is None
        members.set_enabled_roles(db.session, people.school_id, list(MemberRole), by="t")
        assert badges.member_for(db.session, secret).id == people.pupil
        reasons = [d.get("reason") for a, d in actions(people.pupil) if a.endswith("refused")]
        assert reasons == ["member disabled", "role not enabled"]


@pytest.mark.parametrize("presented", [None, "", "not-a-badge", "x" * 101, "A" * 43], ids=repr)
def test_anything_but_a_live_badge_finds_nobody(app, people, presented) -> None:
    with app.app_context():
        badges.issue(db.session, pupil(people), by="t")
        assert badges.member_for(db.session, presented) is None


def test_badges_are_for_pupils_only(app, people) -> None:
    with app.app_context():
        for staff_or_parent in (people.teacher, people.parent):
            with pytest.raises(badges.BadgeRefused, match="pupils"):
                badges.issue(db.session, db.session.get(Member, staff_or_parent), by="t")


def test_a_class_sheet_makes_badges_only_for_pupils_without_one(app, people) -> None:
    with app.app_context():
        teaching_class = db.session.get(TeachingClass, people.class_id)
        [first] = badges.make_badges(db.session, teaching_class, by="t")
        assert first.name == "Zoë O'Brien-Smith"
        assert first.replaced is False
        assert badges.make_badges(db.session, teaching_class, by="t") == []
        [again] = badges.make_badges(db.session, teaching_class, by="t", reissue=True)
        assert again.replaced is True
        assert badges.member_for(db.session, first.secret) is None
        [row] = badges.sheet(db.session, teaching_class)
        assert row.badge is not None
        assert row.badge.secret_digest == digest(again.secret)
        # Only pupils of the class.
        with pytest.raises(badges.BadgeRefused):
            badges.make_badges(db.session, teaching_class, by="t", reissue=True, pupil_id=-1)
