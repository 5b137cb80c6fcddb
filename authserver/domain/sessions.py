"""People's sessions in the domain's words: start one at sign-in, find the live one behind a
cookie's token, end one or all. Idle and absolute limits come from the settings, passed in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authserver.domain import credentials
from authserver.models.columns import utcnow
from authserver.models.sessions import UserSession
from authserver.models.users import Role, User

#: last_seen_at is written at most this often: a page view need not rewrite the row each time.
TOUCH_PRECISION = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Limits:
    """How long a session may be idle (two kinds of person) and may last at all."""

    idle_privileged: dt.timedelta = dt.timedelta(minutes=30)
    idle: dt.timedelta = dt.timedelta(hours=2)
    absolute: dt.timedelta = dt.timedelta(hours=12)


def is_privileged(user: User) -> bool:
    """Whether the person may approve or manage anything (a shorter idle limit applies)."""
    return any(
        a.can_approve or a.role in (Role.SCHOOL_ADMIN, Role.TRUST_ADMIN, Role.PLATFORM_ADMIN)
        for a in user.roles
    )


def start(
    session: Session,
    user: User,
    limits: Limits,
    *,
    user_agent: str | None,
    address: str | None,
    now: dt.datetime | None = None,
) -> str:
    """A new session for the user; returns its token (for the cookie only, never stored)."""
    now = now or utcnow()
    token = credentials.new_secret()
    idle = limits.idle_privileged if is_privileged(user) else limits.idle
    session.add(
        UserSession(
            user_id=user.id,
            token_digest=credentials.digest(token),
            created_at=now,
            last_seen_at=now,
            idle_timeout_seconds=int(idle.total_seconds()),
            expires_at=now + limits.absolute,
            user_agent=(user_agent or "")[:300] or None,
            address=(address or "")[:45] or None,
        )
    )
    session.flush()
    return token


def live(session: Session, token: str | None, now: dt.datetime | None = None) -> UserSession | None:
    """The live session behind a token, or None: ended, expired, idle too long, or its
    person's account disabled."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    found: UserSession | None = session.scalar(
        select(UserSession).where(UserSession.token_digest == credentials.digest(token))
    )
    if found is None or not found.is_live(now) or not found.user.is_active:
        return None
    return found


def touch_due(found: UserSession, now: dt.datetime | None = None) -> bool:
    """Whether the session's last use should be written now."""
    return (now or utcnow()) - found.last_seen_at >= TOUCH_PRECISION


def touch(session: Session, session_id: int, now: dt.datetime | None = None) -> None:
    """Record that the session was used (the caller's unit of work, its own, commits)."""
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
        .values(last_seen_at=now or utcnow())
    )


def end(session: Session, found: UserSession, reason: str, now: dt.datetime | None = None) -> None:
    """End one session."""
    if found.ended_at is None:
        found.ended_at, found.ended_reason = now or utcnow(), reason


def end_all(
    session: Session,
    user_id: int,
    reason: str,
    *,
    keep: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """End every live session of a person (but `keep`); returns how many."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = session.execute(query.values(ended_at=now or utcnow(), ended_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


def sessions_of(
    session: Session, user_id: int, now: dt.datetime | None = None
) -> list[UserSession]:
    """A person's live sessions, newest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .order_by(UserSession.created_at.desc())
    )
    return [row for row in rows if row.is_live(now)]
