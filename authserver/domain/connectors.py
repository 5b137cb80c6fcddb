"""MIS connectors: registering one for a school, rotating its secret with an overlap, revoking
it. A connector's secret is shown once and kept as a SHA-256 digest, like every machine secret."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authserver.domain import audit, credentials
from authserver.domain.audit import AuditAction
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.connectors import CONNECTOR_PREFIX, Connector, ConnectorToken
from authserver.models.organisations import School
from authserver.models.users import User

#: How long the previous secret still works after a rotation, unless the caller says otherwise:
#: long enough to update the agent beside the MIS without a gap in its syncs.
DEFAULT_OVERLAP = dt.timedelta(hours=24)
MAX_OVERLAP = dt.timedelta(days=7)

Actor = User | Application | str


class ConnectorError(ValueError):
    """A request about a connector that cannot be carried out, in words for the person."""


def register(session: Session, school: School, name: str, *, actor: Actor) -> tuple[Connector, str]:
    """A new connector for the school; returns it and its secret (shown once, never stored)."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ConnectorError("Give the connector a name of 1 to 200 characters.")
    secret = credentials.new_secret()
    connector = Connector(
        school_id=school.id,
        name=name,
        client_id=credentials.new_identifier(CONNECTOR_PREFIX),
        client_secret_digest=credentials.digest(secret),
    )
    session.add(connector)
    session.flush()
    audit.record(
        AuditAction.CONNECTOR_REGISTERED,
        actor=actor,
        school=school.id,
        connector=connector.client_id,
        name=name,
    )
    return connector, secret


def rotate_secret(
    session: Session,
    connector: Connector,
    *,
    actor: Actor,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
) -> str:
    """A new secret for the connector; the current one keeps working for `overlap` (zero ends
    it at once, as after a leak). Returns the new secret, shown once."""
    if not connector.is_active:
        raise ConnectorError("This connector has been revoked; register a new one.")
    if overlap < dt.timedelta(0) or overlap > MAX_OVERLAP:
        raise ConnectorError("The old secret can keep working for at most 7 days.")
    now = utcnow()
    secret = credentials.new_secret()
    if overlap:
        connector.previous_secret_digest = connector.client_secret_digest
        connector.previous_secret_expires_at = now + overlap
    else:
        connector.previous_secret_digest = None
        connector.previous_secret_expires_at = None
        _revoke_tokens(session, connector, now)
    connector.client_secret_digest = credentials.digest(secret)
    connector.rotated_at = now
    audit.record(
        AuditAction.CONNECTOR_SECRET_ROTATED,
        actor=actor,
        school=connector.school_id,
        connector=connector.client_id,
        overlap_hours=round(overlap.total_seconds() / 3600, 2),
    )
    return secret


def revoke(session: Session, connector: Connector, *, actor: Actor) -> None:
    """End the connector: its secrets and every token it holds stop working at once."""
    if not connector.is_active:
        return
    now = utcnow()
    connector.revoked_at = now
    connector.previous_secret_digest = None
    connector.previous_secret_expires_at = None
    _revoke_tokens(session, connector, now)
    audit.record(
        AuditAction.CONNECTOR_REVOKED,
        actor=actor,
        school=connector.school_id,
        connector=connector.client_id,
    )


def _revoke_tokens(session: Session, connector: Connector, now: dt.datetime) -> None:
    session.execute(
        update(ConnectorToken)
        .where(ConnectorToken.connector_id == connector.id, ConnectorToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def connectors_of(session: Session, school_id: int) -> list[Connector]:
    """The school's connectors, active first, newest first."""
    return list(
        session.scalars(
            select(Connector)
            .where(Connector.school_id == school_id)
            .order_by(Connector.revoked_at.is_not(None), Connector.created_at.desc())
        )
    )


def find(session: Session, client_id: str) -> Connector | None:
    """The connector with this client id, if any."""
    return session.scalar(select(Connector).where(Connector.client_id == client_id))


def active_token(session: Session, value: str) -> ConnectorToken | None:
    """The connector token behind a bearer value, if it is unexpired, unrevoked and its
    connector still active."""
    if not value or len(value) > 4096:
        return None
    token = session.scalar(
        select(ConnectorToken)
        .join(Connector)
        .where(
            ConnectorToken.access_token_digest == credentials.digest(value),
            ConnectorToken.revoked_at.is_(None),
            ConnectorToken.expires_at > utcnow(),
            Connector.revoked_at.is_(None),
        )
    )
    return token
