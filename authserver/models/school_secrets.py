"""School secrets: the per-(application, school) credential for unattended syncs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class SchoolSecret(db.Model):
    """One secret, bound to the grant version, scopes and restrictions in force when claimed."""

    __tablename__ = "school_secrets"
    __table_args__ = (Index("ix_school_secrets_grant_id_revoked_at", "grant_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    grant_version: Mapped[int] = mapped_column(Integer)
    # What this secret can ever give: the grant as it stood when the secret was claimed.
    scopes: Mapped[list[str]] = mapped_column(JSON)
    restrictions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a newer secret is claimed; the old one then works until expires_at (the overlap).
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def has_ended(self, now: dt.datetime) -> bool:
        return self.revoked_at is not None or (
            self.expires_at is not None and now >= self.expires_at
        )
