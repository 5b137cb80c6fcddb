"""The writeback queue: a vendor's write on its way to the school's MIS, and the keys that make
a retried write answer as the first did.

A `Writeback` is one request of an application at a school; each record it creates, corrects
or withdraws is a `WritebackItem`, queued until the school's connector (or the school, by
hand) settles it as applied or rejected.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import UTCDateTime, utcnow


class WritebackState(enum.StrEnum):
    QUEUED = "queued"
    APPLIED = "applied"
    REJECTED = "rejected"


class WritebackOp(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Writeback(db.Model):
    """One write request of an application at a school: the items it queued, in order."""

    __tablename__ = "writebacks"
    __table_args__ = (
        Index("ix_writebacks_application_id_school_id", "application_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    resource: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last item settled (and `writeback.settled` went out); empty while any is queued.
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))

    application: Mapped[Application] = relationship()
    items: Mapped[list[WritebackItem]] = relationship(
        back_populates="writeback", order_by="WritebackItem.position"
    )


class WritebackItem(db.Model):
    """One record's create, update or delete, queued for the school's MIS."""

    __tablename__ = "writeback_items"
    # The connector's queue: one school's queued items, oldest first.
    __table_args__ = (
        Index("ix_writeback_items_school_id_state_id", "school_id", "state", "id"),
        Index("ix_writeback_items_entity_record_id", "entity", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    writeback_id: Mapped[int] = mapped_column(ForeignKey("writebacks.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    position: Mapped[int]  # the record's index in the request's `data`
    op: Mapped[str] = mapped_column(String(10))  # a WritebackOp
    entity: Mapped[str] = mapped_column(String(50))
    record_id: Mapped[int]
    # The values sent (as JSON: dates in ISO 8601); for an update only the fields it changes.
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What an update or a replacement changed, as it was before: put back if the MIS refuses.
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The record's item before this one (it stays the record's if this one is refused).
    previous_item_id: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(10), default=WritebackState.QUEUED)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Who settled it: "connector 7", or the school admin's email.
    settled_by: Mapped[str | None] = mapped_column(String(255))

    writeback: Mapped[Writeback] = relationship(back_populates="items")


class IdempotencyKey(db.Model):
    """A write's Idempotency-Key, per application and school, and the first answer to it.

    `status_code` is empty while the first request is still being handled."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("application_id", "school_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
