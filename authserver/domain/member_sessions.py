"""Members' browser sessions: started at sign-in, found behind a cookie's token, ended at
sign-out. On a shared classroom device a session is short when idle; elsewhere it lasts as an
admin's does. Ending the row ends the session wherever the cookie went."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authserver.domain import credentials
from authserver.domain.members import why_not_signing_in
from authserver.models.columns import utcnow
from authserver.models.members import Member, MemberSession

#: last_seen_at is written at most this often.
TOUCH_PRECISION = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Limits:
    """How long a member's session may be idle (on a shared device, elsewhere) and last."""

    idle_shared: dt.timedelta = dt.timedelta(minutes=10)
    idle: dt.timedelta = dt.timedelta(hours=2)
    absolute: dt.timedelta = dt.timedelta(hours=12)


def start(
    session: Session,
    member: Member,
    limits: Limits,
    *,
    method: str,
    shared_device: bool,
    now: dt.datetime | None = None,
) -> str:
    """A new session for the member; returns its token (for the cookie only, never stored)."""
    now = now or utcnow()
    token = credentials.new_secret()
    idle = limits.idle_shared if shared_device else limits.idle
    session.add(
        MemberSession(
            member_id=member.id,
            token_digest=credentials.digest(token),
            shared_device=shared_device,
            method=method,
            created_at=now,
            last_seen_at=now,
            idle_timeout_seconds=int(idle.total_seconds()),
            expires_at=now + limits.absolute,
        )
    )
    member.last_sign_in_at = now
    session.flush()
    return token


def live(
    session: Session, token: str | None, now: dt.datetime | None = None
) -> MemberSession | None:
    """The live session behind a token, or None: ended, expired, idle too long, its member
    disabled or gone with their MIS record, their role no longer let sign in, or their role now
    one (school admin) that this session's way of signing in does not reach."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    found: MemberSession | None = session.scalar(
        select(MemberSession).where(MemberSession.token_digest == credentials.digest(token))
    )
    if found is None or not found.is_live(now):
        return None
    if why_not_signing_in(session, found.member, found.method) is not None:
        return None
    return found


def touch_due(found: MemberSession, now: dt.datetime | None = None) -> bool:
    return (now or utcnow()) - found.last_seen_at >= TOUCH_PRECISION


def touch(session: Session, session_id: int, now: dt.datetime | None = None) -> None:
    """Record that the session was used (the caller commits)."""
    session.execute(
        update(MemberSession)
        .where(MemberSession.id == session_id, MemberSession.ended_at.is_(None))
        .values(last_seen_at=now or utcnow())
    )


def end(found: MemberSession, reason: str, now: dt.datetime | None = None) -> None:
    """End one session (the caller commits)."""
    if found.ended_at is None:
        found.ended_at, found.ended_reason = now or utcnow(), reason


def end_all(session: Session, member_id: int, reason: str, now: dt.datetime | None = None) -> int:
    """End every live session of a member (a badge reissued, a password changed)."""
    result = session.execute(
        update(MemberSession)
        .where(MemberSession.member_id == member_id, MemberSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), ended_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)
