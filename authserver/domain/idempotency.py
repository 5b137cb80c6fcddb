"""Idempotency keys on writes, as the IETF httpapi Idempotency-Key draft describes them.

The first request with a key claims it (`start`, committed at once by the caller, so that a
second request arriving meanwhile sees it in progress); its answer is kept with the key
(`remember`, in the write's own transaction) and given again to a retry of the same request.
Keys belong to one application at one school and are kept for `KEY_TTL`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from authserver.models.columns import utcnow
from authserver.models.writebacks import IdempotencyKey

#: How long a key and its answer are kept (the draft asks for at least 24 hours).
KEY_TTL = dt.timedelta(hours=24)
#: A request that holds a key this long without an answer is taken to have died.
ABANDONED_AFTER = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255


class Outcome(enum.Enum):
    CLAIMED = "claimed"  # the first request with the key: go ahead
    REPLAY = "replay"  # the same request again: answer as the first time
    MISMATCH = "mismatch"  # the key with another request: 422
    IN_PROGRESS = "in_progress"  # the first is still being handled: 409


def fingerprint(*parts: bytes) -> str:
    """The SHA-256 of a request's parts (method, path, body ...), to tell requests apart."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def is_valid_key(key: str) -> bool:
    """A key is 1 to 255 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def find(
    session: Session, *, application_id: int, school_id: int, key: str
) -> IdempotencyKey | None:
    """The application's key at the school, if it has been used."""
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.application_id == application_id,
            IdempotencyKey.school_id == school_id,
            IdempotencyKey.key == key,
        )
    )


def outcome_for(
    existing: IdempotencyKey, request_fingerprint: str, now: dt.datetime | None = None
) -> Outcome | None:
    """What a request with a key already used gets; None when the key has expired (or its
    first request died holding it), so that it may be claimed afresh."""
    now = now or utcnow()
    stale = existing.status_code is None and existing.created_at < now - ABANDONED_AFTER
    if existing.expires_at <= now or stale:
        return None
    if existing.status_code is None:
        return Outcome.IN_PROGRESS
    if existing.fingerprint != request_fingerprint:
        return Outcome.MISMATCH
    return Outcome.REPLAY


def start(
    session: Session,
    *,
    application_id: int,
    school_id: int,
    key: str,
    request_fingerprint: str,
    replacing: IdempotencyKey | None = None,
) -> IdempotencyKey:
    """Claim a key for a request (in place of an expired claim); the caller commits at once,
    before writing, so that another worker sees the claim (a unique violation: it lost)."""
    if replacing is not None:
        session.delete(replacing)
        session.flush()
    now = utcnow()
    row = IdempotencyKey(
        application_id=application_id,
        school_id=school_id,
        key=key,
        fingerprint=request_fingerprint,
        created_at=now,
        expires_at=now + KEY_TTL,
    )
    session.add(row)
    session.flush()
    return row


def remember(session: Session, key_id: int, status_code: int, body: str) -> None:
    """Keep the answer with its key, in the caller's transaction."""
    row = session.get(IdempotencyKey, key_id)
    if row is not None:
        row.status_code = status_code
        row.body = body


def release(session: Session, key_id: int) -> None:
    """Give up a claim whose request wrote nothing (it failed): the key may be used again.
    The caller commits."""
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == key_id))


def prune(session: Session, now: dt.datetime | None = None) -> int:
    """Delete the expired keys; returns how many (the caller commits)."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
