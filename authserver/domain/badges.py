"""Pupils' QR badges: a printed 256-bit secret a pupil who cannot type a password shows to a
shared device's camera. Kept only as its SHA-256 digest; reissuing one stops the old badge and
the pupil's sessions at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from authserver.domain import audit, credentials, member_sessions, members
from authserver.domain.audit import AuditAction
from authserver.models.badges import MemberBadge
from authserver.models.columns import utcnow
from authserver.models.members import Member, MemberRole
from authserver.models.mis.structure import ClassMembership, TeachingClass
from authserver.models.mis.students import Student

#: A presented badge longer than this cannot be one of ours (new_secret makes 43 characters).
MAX_SECRET_LENGTH = 100
#: Only pupils get badges: staff and parents can type a password, and a staff badge left on a
#: desk would open far more than a pupil's apps.
BADGE_ROLES = frozenset({MemberRole.STUDENT})


class BadgeRefused(Exception):
    """A badge that cannot be made, in words for the person asking."""


@dataclass(frozen=True)
class NewBadge:
    """A badge just made: its secret exists only here, to be printed once."""

    member_id: int
    name: str
    secret: str
    replaced: bool


@dataclass(frozen=True)
class SheetRow:
    """One pupil of a class on the badge sheet, with their live badge if they have one."""

    pupil: Student
    name: str
    member: Member | None
    badge: MemberBadge | None


def live_badge(session: Session, member_id: int) -> MemberBadge | None:
    """The member's badge that works now, if any."""
    return session.scalar(
        select(MemberBadge).where(
            MemberBadge.member_id == member_id, MemberBadge.revoked_at.is_(None)
        )
    )


def issue(session: Session, member: Member, *, by: str, now: dt.datetime | None = None) -> str:
    """Make the member a new badge and return its secret (shown once, never stored). A badge
    they had stops at once, and so does every session of theirs; the caller commits."""
    if member.role not in BADGE_ROLES:
        raise BadgeRefused("Badges are for pupils: staff and parents sign in with a password.")
    now = now or utcnow()
    # Two reissues at once must not leave two live badges (the partial unique index would
    # refuse the second): the member's row serialises them on PostgreSQL.
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    previous = live_badge(session, member.id)
    if previous is not None:
        previous.revoked_at = now
        session.flush()
    secret = credentials.new_secret()
    badge = MemberBadge(
        member_id=member.id,
        secret_digest=credentials.digest(secret),
        issued_at=now,
        issued_by=by,
    )
    session.add(badge)
    session.flush()
    if previous is None:
        audit.record(
            AuditAction.MEMBER_BADGE_ISSUED,
            actor=by,
            school=member.school_id,
            member=member.id,
            badge=badge.id,
        )
        return secret
    # Whoever holds the old badge may have signed in with it: those sessions end too. A first
    # badge ends nothing, so printing a class's sheet mid-lesson signs nobody out.
    ended = member_sessions.end_all(session, member.id, "badge reissued", now)
    audit.record(
        AuditAction.MEMBER_BADGE_REISSUED,
        actor=by,
        school=member.school_id,
        member=member.id,
        badge=badge.id,
        replaced=previous.id,
        sessions_ended=ended,
    )
    return secret


def member_for(session: Session, secret: str | None) -> Member | None:
    """The member whose live badge this is, or None: unknown, replaced, its member disabled,
    or their role not let sign in by the school. A refused badge of ours is audited; the
    caller commits either way."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    badge = session.scalar(
        select(MemberBadge).where(MemberBadge.secret_digest == credentials.digest(secret))
    )
    if badge is None or not credentials.secret_matches(secret, badge.secret_digest):
        return None
    member: Member = badge.member
    refusal = None
    if badge.revoked_at is not None:
        refusal = "replaced"
    elif member.disabled_at is not None:
        refusal = "member disabled"
    elif members.why_not_signing_in(session, member, "qr") is not None:
        refusal = "role not enabled"
    if refusal is not None:
        audit.record(
            AuditAction.MEMBER_BADGE_REFUSED,
            actor="badge sign-in",
            school=member.school_id,
            member=member.id,
            badge=badge.id,
            reason=refusal,
        )
        return None
    return member


def record_sign_in(session: Session, member: Member, secret: str) -> None:
    """Audit a sign-in with the badge behind `secret` (in the sign-in's transaction)."""
    badge_id = session.scalar(
        select(MemberBadge.id).where(MemberBadge.secret_digest == credentials.digest(secret))
    )
    audit.record(
        AuditAction.MEMBER_SIGNED_IN,
        actor="badge sign-in",
        school=member.school_id,
        member=member.id,
        method="qr",
        badge=badge_id,
    )


# A class's badge sheet ---------------------------------------------------------------------


def class_pupils(
    session: Session, teaching_class: TeachingClass, on: dt.date | None = None
) -> list[Student]:
    """The pupils in a teaching class today, by surname then forename."""
    today = on or utcnow().date()
    return list(
        session.scalars(
            select(Student)
            .join(ClassMembership, ClassMembership.student_id == Student.id)
            .where(
                ClassMembership.class_id == teaching_class.id,
                or_(ClassMembership.start_date.is_(None), ClassMembership.start_date <= today),
                or_(ClassMembership.end_date.is_(None), ClassMembership.end_date >= today),
            )
            .order_by(Student.surname, Student.forename, Student.id)
            .distinct()
        )
    )


def pupil_name(pupil: Student) -> str:
    """A pupil's name as the school shows it (the preferred forename where there is one)."""
    return f"{pupil.preferred_forename or pupil.forename} {pupil.surname}"


def sheet(session: Session, teaching_class: TeachingClass) -> list[SheetRow]:
    """Every pupil of the class, whether they are a member yet and their live badge."""
    rows = []
    for pupil in class_pupils(session, teaching_class):
        member = members.member_of(session, pupil)
        badge = live_badge(session, member.id) if member is not None else None
        rows.append(SheetRow(pupil, pupil_name(pupil), member, badge))
    return rows


def make_badges(
    session: Session,
    teaching_class: TeachingClass,
    *,
    by: str,
    reissue: bool = False,
    pupil_id: int | None = None,
) -> list[NewBadge]:
    """Badges for the class's pupils, enrolling any not yet members: by default only for
    those without one; with `reissue`, new ones in place of the old (for one pupil when
    `pupil_id` is given). The caller commits."""
    pupils = class_pupils(session, teaching_class)
    if pupil_id is not None:
        pupils = [p for p in pupils if p.id == pupil_id]
        if not pupils:
            raise BadgeRefused("That pupil is not in this class.")
    made = []
    for pupil in pupils:
        member = members.enrol(session, pupil, by=by)
        had = live_badge(session, member.id) is not None
        if had and not reissue:
            continue
        secret = issue(session, member, by=by)
        made.append(NewBadge(member.id, pupil_name(pupil), secret, replaced=had))
    return made
