"""Grants: what a school approved for an application, versioned as the scopes change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from authserver.extensions import db
from authserver.models import unchangeable
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


RECEIPTS_TABLE = "grant_receipts"

# PostgreSQL's guard, one definition for the migration (0028) and for `create_all`: a stored
# receipt is never changed nor deleted. The one change let through is signing a receipt kept
# unsigned before receipts were signed at the decision (`signature` from NULL, nothing else).
# No `%` or `:name` here: the text goes through both DDL() and op.execute().
RECEIPTS_IMMUTABLE_FUNCTION = """
CREATE FUNCTION grant_receipts_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.signature IS NULL AND NEW.signature IS NOT NULL
       AND NEW.id = OLD.id AND NEW.grant_id = OLD.grant_id AND NEW.version = OLD.version
       AND NEW.issued_at = OLD.issued_at AND NEW.document::text = OLD.document::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'consent receipts are immutable; ' || TG_OP || ' refused';
END;
$$
"""
# Row-level, so that signing a legacy receipt can be told apart from rewriting one. TRUNCATE
# does not fire it; it needs the table owner's rights, which the application's role should lack.
RECEIPTS_IMMUTABLE_TRIGGER = """
CREATE TRIGGER grant_receipts_immutable
BEFORE UPDATE OR DELETE ON grant_receipts
FOR EACH ROW EXECUTE FUNCTION grant_receipts_refuse_change()
"""
DROP_RECEIPTS_IMMUTABLE_TRIGGER = (
    "DROP TRIGGER IF EXISTS grant_receipts_immutable ON grant_receipts"
)
DROP_RECEIPTS_IMMUTABLE_FUNCTION = "DROP FUNCTION IF EXISTS grant_receipts_refuse_change()"


class ReceiptIsImmutable(RuntimeError):
    """Something tried to change or delete a stored consent receipt."""


class GrantReceipt(db.Model):
    """The consent receipt of one version of a grant: made and signed in the decision's own
    transaction, then never changed (see RECEIPTS_IMMUTABLE_FUNCTION)."""

    __tablename__ = RECEIPTS_TABLE
    __table_args__ = (UniqueConstraint("grant_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the school approved, exactly as `authserver.receipts.receipt_document` wrote it.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The compact JWS over the document, by a receipt key; the download is {receipt, signature}.
    # None only for a receipt kept before receipts were signed at the decision (until its first
    # download signs it).
    signature: Mapped[str | None] = mapped_column(Text)

    grant: Mapped[Grant] = relationship()


@event.listens_for(GrantReceipt, "before_update")
def _refuse_rewriting(mapper: Mapper[Any], connection: object, target: GrantReceipt) -> None:
    state = inspect(target)
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    was = state.attrs.signature.history.deleted
    signing_a_legacy_one = changed == {"signature"} and all(v is None for v in was)
    if not signing_a_legacy_one:
        raise ReceiptIsImmutable(f"consent receipt {target.id} cannot be changed")


@event.listens_for(GrantReceipt, "before_delete")
def _refuse_deleting(mapper: Mapper[Any], connection: object, target: GrantReceipt) -> None:
    raise ReceiptIsImmutable(f"consent receipt {target.id} cannot be deleted")


# Bulk statements (`update(GrantReceipt)`, `query.delete()`) bypass the flush events above.
unchangeable.guard(
    GrantReceipt.__table__,  # type: ignore[arg-type]
    lambda: ReceiptIsImmutable("consent receipts cannot be changed or deleted"),
    RECEIPTS_IMMUTABLE_FUNCTION,
    RECEIPTS_IMMUTABLE_TRIGGER,
)


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
