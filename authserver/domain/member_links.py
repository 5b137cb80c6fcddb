"""Links emailed to a school's staff and parents: an invitation to choose a password (sent by
the school), or a magic link that signs them in (asked for by the member). Each works once,
for a short while; only its token's digest is kept. Links are built by the caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authserver.domain import audit, credentials, members
from authserver.domain.audit import AuditAction
from authserver.domain.mail import queue_mail, render
from authserver.models.columns import utcnow
from authserver.models.members import Member, MemberLink, MemberLinkKind, MemberRole
from authserver.models.organisations import School

INVITATION_LIFETIME = dt.timedelta(days=7)
MAGIC_LINK_LIFETIME = dt.timedelta(minutes=15)
LIFETIMES = {
    MemberLinkKind.INVITATION: INVITATION_LIFETIME,
    MemberLinkKind.MAGIC_LINK: MAGIC_LINK_LIFETIME,
}

LinkFor = Callable[[str], str]


class LinkRefused(ValueError):
    """A link that cannot be sent or used; the message says why, for people."""


def _new_link(
    session: Session, member: Member, kind: MemberLinkKind, *, by: str, now: dt.datetime
) -> tuple[str, MemberLink]:
    token = credentials.new_secret()
    link = MemberLink(
        member_id=member.id,
        kind=str(kind),
        token_digest=credentials.digest(token),
        sent_by=by,
        created_at=now,
        expires_at=now + LIFETIMES[kind],
    )
    session.add(link)
    session.flush()
    return token, link


def invite(
    session: Session,
    member: Member,
    *,
    by: str,
    link_for: LinkFor,
    now: dt.datetime | None = None,
) -> MemberLink:
    """Email a staff member or parent a link to choose their password (lasting 7 days); the
    caller commits. Pupils are given a password by the school instead."""
    now = now or utcnow()
    if member.role is MemberRole.STUDENT:
        raise LinkRefused("Pupils do not get emails from us: set a password for them instead.")
    if not member.email:
        name = members.name_of(session, member)
        raise LinkRefused(f"The MIS has no email address for {name}: add one there first.")
    if member.disabled_at is not None:
        raise LinkRefused("This person's sign-in is turned off.")
    school = session.get(School, member.school_id)
    school_name = school.name if school else "your school"
    token, link = _new_link(session, member, MemberLinkKind.INVITATION, by=by, now=now)
    queue_mail(
        member.email,
        f"Set up your sign-in to {school_name}'s apps",
        "member_invitation",
        name=members.name_of(session, member),
        school=school_name,
        link=link_for(token),
        days=INVITATION_LIFETIME.days,
    )
    audit.record(AuditAction.MEMBER_INVITED, actor=by, school=member.school_id, member=member.id)
    return link


def request_magic_link(
    session: Session,
    school: School,
    email: str,
    *,
    link_for: LinkFor,
    now: dt.datetime | None = None,
) -> None:
    """Email a sign-in link to the school's staff member or parent with this address, if they
    may sign in; otherwise do the same work and send nothing, so the answer tells nobody
    whether the address is known."""
    now = now or utcnow()
    email = (email or "").strip().lower()[: members.MAX_LOGIN_LENGTH]
    found = members.find_for_sign_in(session, school.id, email) if "@" in email else None
    may = (
        found is not None
        and found.email == email
        and found.role is not MemberRole.STUDENT
        # A school admin signs in with their admin account: a link would skip its second factor.
        and members.why_not_signing_in(session, found, "email") is None
    )
    minutes = int(MAGIC_LINK_LIFETIME.total_seconds() // 60)
    if found is None or not may:
        render("member_magic_link", name="", school=school.name, link="", minutes=minutes)
        return
    token, _ = _new_link(session, found, MemberLinkKind.MAGIC_LINK, by="member", now=now)
    queue_mail(
        email,
        f"Your link to sign in to {school.name}'s apps",
        "member_magic_link",
        name=members.name_of(session, found),
        school=school.name,
        link=link_for(token),
        minutes=minutes,
    )
    audit.record(
        AuditAction.MEMBER_MAGIC_LINK_SENT, actor="member", school=school.id, member=found.id
    )


def find_link(
    session: Session, token: str | None, kind: MemberLinkKind, now: dt.datetime | None = None
) -> MemberLink | None:
    """The usable link of this kind behind a token (None: unknown, used, expired, or its
    member's sign-in turned off)."""
    if not token or len(token) > 100:
        return None
    link: MemberLink | None = session.scalar(
        select(MemberLink).where(
            MemberLink.token_digest == credentials.digest(token), MemberLink.kind == str(kind)
        )
    )
    if link is None or not link.is_usable(now) or link.member.disabled_at is not None:
        return None
    return link


def use(session: Session, link: MemberLink, now: dt.datetime | None = None) -> Member:
    """Spend the link, once: of two uses racing, one wins (the other is refused). Every other
    unused link of the same kind for the member stops working too. The caller commits."""
    now = now or utcnow()
    result = session.execute(
        update(MemberLink)
        .where(MemberLink.id == link.id, MemberLink.used_at.is_(None), MemberLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise LinkRefused("This link has already been used or has expired.")
    session.execute(
        update(MemberLink)
        .where(
            MemberLink.member_id == link.member_id,
            MemberLink.kind == link.kind,
            MemberLink.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    member = link.member
    audit.record(
        AuditAction.MEMBER_LINK_USED,
        actor="member",
        school=member.school_id,
        member=member.id,
        kind=link.kind,
    )
    return member


def pending_invitations(session: Session, school_id: int) -> dict[int, MemberLink]:
    """The newest usable invitation of each of the school's members who has one, by member."""
    now = utcnow()
    rows = session.scalars(
        select(MemberLink)
        .join(Member, Member.id == MemberLink.member_id)
        .where(
            Member.school_id == school_id,
            MemberLink.kind == str(MemberLinkKind.INVITATION),
            MemberLink.used_at.is_(None),
            MemberLink.expires_at > now,
        )
        .order_by(MemberLink.created_at)
    )
    return {row.member_id: row for row in rows}
