"""Grants: what a school approved for an application, versioned as the scopes change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.organisations import School
from authserver.models.users import User


class GrantStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Grant(db.Model):
    """A school's standing approval of an application: scopes, restrictions and a version."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("application_id", "school_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    status: Mapped[GrantStatus] = mapped_column(_enum(GrantStatus), default=GrantStatus.ACTIVE)
    # Rises each time the approved scopes change; tokens and school secrets carry it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"group_ids": [...], "class_ids": [...], "excluded_fields": ["entity.field", ...]}
    restrictions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the school accepted, as linked at that moment.
    accepted_privacy_policy_url: Mapped[str | None] = mapped_column(String(500))
    accepted_terms_url: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    application: Mapped[Application] = relationship()
    school: Mapped[School] = relationship()
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def is_in_force(self, now: dt.datetime | None = None) -> bool:
        """Whether tokens under this grant may be issued and used now."""
        if self.status != GrantStatus.ACTIVE:
            return False
        return self.expires_at is None or (now or utcnow()) < self.expires_at


class AccessRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class AccessRequest(db.Model):
    """A Data Access Request: an application asking one school for scopes, awaiting a decision."""

    __tablename__ = "access_requests"
    __table_args__ = (
        Index("ix_access_requests_school_id_status", "school_id", "status"),
        Index("ix_access_requests_application_id_status", "application_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    status: Mapped[AccessRequestStatus] = mapped_column(
        _enum(AccessRequestStatus), default=AccessRequestStatus.PENDING
    )
    # The application's request as it stood when made, purposes included.
    required_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    optional_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    purposes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    grant_version: Mapped[int | None] = mapped_column(Integer)

    application: Mapped[Application] = relationship()
    school: Mapped[School] = relationship()
    decided_by: Mapped[User | None] = relationship()

    @property
    def is_pending(self) -> bool:
        return self.status == AccessRequestStatus.PENDING


class GrantReceipt(db.Model):
    """The consent receipt of one version of a grant, kept as it was when the version began;
    signed the first time it is downloaded (so that deciding never waits on a signing key)."""

    __tablename__ = "grant_receipts"
    __table_args__ = (UniqueConstraint("grant_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the school approved, exactly as `authserver.receipts.receipt_document` wrote it.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The compact JWS over the document, made once; the download is {receipt, signature}.
    signature: Mapped[str | None] = mapped_column(Text)

    grant: Mapped[Grant] = relationship()


class GrantReminder(db.Model):
    """A reminder that a grant's end date is near, sent once per end date and threshold."""

    __tablename__ = "grant_reminders"
    __table_args__ = (UniqueConstraint("grant_id", "expires_at", "days_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    # The end date the reminder was about: a new end date is reminded of afresh.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    days_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
