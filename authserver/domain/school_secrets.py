"""Claiming, rotating and checking school secrets; ending them with their grant; holding a grant
while a token is issued from it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, ScalarSelect, select, update

from authserver.domain import audit, credentials
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.school_secrets import SchoolSecret


class SecretRefused(ValueError):
    """A school secret that cannot give a token; the message tells the vendor why."""


@dataclass(frozen=True)
class ClaimedSecret:
    """A freshly claimed secret: its value is shown once and never stored."""

    row: SchoolSecret
    value: str


def claim(grant: Grant, application: Application, *, overlap_seconds: int) -> ClaimedSecret:
    """A new secret for the grant's current version; the previous one works `overlap_seconds`
    longer, then stops (0 stops it at once)."""
    # Lock the grant so that concurrent claims leave exactly one current secret, and re-read
    # it under the lock: a narrowing that committed meanwhile must bind the new secret.
    db.session.scalar(
        select(Grant)
        .where(Grant.id == grant.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if not grant.is_in_force():
        raise SecretRefused("the school has not approved this application (or withdrew it)")
    now = utcnow()
    result = db.session.execute(
        update(SchoolSecret)
        .where(
            SchoolSecret.grant_id == grant.id,
            SchoolSecret.revoked_at.is_(None),
            SchoolSecret.superseded_at.is_(None),
        )
        .values(superseded_at=now, expires_at=now + dt.timedelta(seconds=overlap_seconds))
    )
    superseded = cast(CursorResult[Any], result).rowcount
    value = credentials.new_secret()
    row = SchoolSecret(
        grant_id=grant.id,
        application_id=application.id,
        school_id=grant.school_id,
        grant_version=grant.version,
        scopes=list(grant.scopes),
        restrictions=dict(grant.restrictions),
        secret_digest=credentials.digest(value),
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        AuditAction.SCHOOL_SECRET_ROTATED if superseded else AuditAction.SCHOOL_SECRET_CLAIMED,
        actor=application,
        school=grant.school_id,
        application=application,
        grant_version=grant.version,
        overlap_seconds=overlap_seconds if superseded else None,
    )
    return ClaimedSecret(row, value)


def usable_secret(
    value: str, *, application: Application, school_id: int, now: dt.datetime | None = None
) -> tuple[SchoolSecret, Grant]:
    """The secret and its grant if `value` may give this application a token for this school;
    otherwise SecretRefused with a description meant for the vendor's logs."""
    now = now or utcnow()
    digest = credentials.digest(value)
    # The grant first, held, then the secret read after it (READ COMMITTED reads afresh at
    # each statement): a narrowing has either ended this secret already or waits for our token.
    grant = hold_grant(
        select(SchoolSecret.grant_id).where(SchoolSecret.secret_digest == digest).scalar_subquery()
    )
    row = db.session.scalar(select(SchoolSecret).where(SchoolSecret.secret_digest == digest))
    if row is None or row.application_id != application.id or row.school_id != school_id:
        raise SecretRefused("The school secret is not valid for this application and school.")
    if grant is None or row.revoked_at is not None or not grant.is_in_force(now):
        if grant is not None and grant.expires_at is not None and now >= grant.expires_at:
            raise SecretRefused("The school's consent has expired; the school must renew it.")
        raise SecretRefused("The school has withdrawn or narrowed this application's access.")
    if row.has_ended(now):
        message = "This school secret was replaced by a newer one: claim the current secret."
        if row.grant_version < grant.version:
            message += (
                f" The school's approved scopes changed since (grant version {grant.version})."
            )
        raise SecretRefused(message)
    return row, grant


def hold_grant(grant_id: int | ScalarSelect[int]) -> Grant | None:
    """The grant, read afresh and share-locked until the transaction ends: for a token endpoint
    about to issue from it. Whatever stops a grant's tokens locks it for update first, so it
    either waits for the token to be stored (and then stops it too) or has finished (and this
    transaction's reads see that)."""
    # FOR SHARE: token requests of one grant do not hold each other up. SQLAlchemy emits
    # nothing for it on SQLite, the embedded default for development, not for production.
    return db.session.scalar(
        select(Grant)
        .where(Grant.id == grant_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )


def revoke_for_grant(grant_id: int) -> int:
    """End every secret of a grant at once (no overlap): revocation and narrowing bite now."""
    result = db.session.execute(
        update(SchoolSecret)
        .where(SchoolSecret.grant_id == grant_id, SchoolSecret.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return cast(CursorResult[Any], result).rowcount
