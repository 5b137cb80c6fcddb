"""The webhook outbox: one row per event to deliver to an application's webhook URL."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import UTCDateTime, utcnow


class WebhookDeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"


class WebhookDelivery(db.Model):
    """An event for an application, written in the same transaction as the change it reports
    and sent (signed, retried with back-off) by the worker; never deleted when a send fails."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_application_id_created_at", "application_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    # The event id (uuid4 hex): the same on every attempt and replay, for receivers to dedupe.
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # The exact JSON body sent on every attempt (the signature covers these bytes).
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        Enum(
            WebhookDeliveryStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the worker may next send it; None once delivered.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
