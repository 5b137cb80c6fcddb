"""Tokens in domain terms: finding them by value, whether they are live, revoking them."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, bindparam, delete, select, update
from sqlalchemy.orm import joinedload

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.tokens import AuthorizationCode, PushedAuthorizationRequest, Token


def find_by_access_token(value: str) -> Token | None:
    """The token row for an access token value, live or not."""
    return _find_by(Token.access_token_digest, credentials.digest(value))


def find_by_refresh_token(value: str) -> Token | None:
    """The token row for a refresh token value, live or not."""
    return _find_by(Token.refresh_token_digest, credentials.digest(value))


def _find_by(column: Any, digest: str) -> Token | None:
    return db.session.scalar(_token_by(column), {"digest": digest})


@functools.cache
def _token_by(column: Any) -> Select[Token]:
    # Built once (its cache key with it) and bound per request. Every use of a token reads its
    # application and its grant: one query loads all three.
    return (
        select(Token)
        .where(column == bindparam("digest"))
        .options(
            joinedload(Token.application).lazyload(Application.scope_requests),
            joinedload(Token.grant),
        )
    )


def grant_allows(token: Token, now: dt.datetime | None = None) -> bool:
    """Whether the school's grant behind `token` still stands (vendor tokens have none)."""
    if token.grant_id is None:
        return True
    grant = token.grant
    return grant is not None and grant.is_in_force(now)


def access_token_is_active(token: Token, now: dt.datetime | None = None) -> bool:
    """Whether the access token may be used now: unrevoked, unexpired, grant in force."""
    now = now or utcnow()
    return token.is_active(now) and grant_allows(token, now)


def refresh_token_is_active(token: Token, now: dt.datetime | None = None) -> bool:
    """Whether the refresh token may still be exchanged."""
    now = now or utcnow()
    return (
        token.refresh_token_digest is not None
        and token.revoked_at is None
        and token.refresh_used_at is None
        and (token.refresh_expires_at is None or now < token.refresh_expires_at)
        and grant_allows(token, now)
    )


def _revoke_live(which: ColumnElement[bool]) -> int:
    """Revoke the live tokens `which` selects, in one statement; returns how many there were."""
    result = db.session.execute(
        update(Token).where(which, Token.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return cast(CursorResult[Any], result).rowcount


def revoke_family(family_id: str) -> int:
    """Revoke every token rotated from one authorization; returns how many were live."""
    return _revoke_live(Token.family_id == family_id)


def revoke_issued_from_code(authorization_code_id: int) -> int:
    """Revoke every token descended from an authorization code (RFC 6749 §4.1.2 replay)."""
    families = select(Token.family_id).where(Token.authorization_code_id == authorization_code_id)
    return _revoke_live(Token.family_id.in_(families))


def revoke_for_grant(grant_id: int) -> int:
    """Revoke every token issued under a school's grant, at once."""
    return _revoke_live(Token.grant_id == grant_id)


# A replayed code still revokes what it issued for this long after it expired (RFC 6749
# §4.1.2); after that it is only an unknown code.
CODE_RETENTION_SECONDS = 24 * 3600


def purge_expired(now: dt.datetime, *, batch_size: int) -> dict[str, int]:
    """Delete one batch of each kind of dead credential; returns how many of each went.

    Small batches, each its own short transaction at the caller: a purge never holds locks
    that the token endpoint waits on. Kept until they can matter no more: a rotated refresh
    token until its own expiry (its replay must still revoke the family), a code for a day.
    """
    dead: dict[
        type[Token] | type[AuthorizationCode] | type[PushedAuthorizationRequest],
        ColumnElement[bool],
    ] = {
        Token: (Token.expires_at < now)
        & (Token.refresh_expires_at.is_(None) | (Token.refresh_expires_at < now)),
        AuthorizationCode: AuthorizationCode.expires_at
        < now - dt.timedelta(seconds=CODE_RETENTION_SECONDS),
        PushedAuthorizationRequest: PushedAuthorizationRequest.expires_at < now,
    }
    removed = {}
    for model, condition in dead.items():
        batch = select(model.id).where(condition).limit(batch_size).scalar_subquery()
        result = db.session.execute(delete(model).where(model.id.in_(batch)))
        removed[model.__tablename__] = cast(CursorResult[Any], result).rowcount
    return removed
