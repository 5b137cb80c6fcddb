"""The mail outbox: one row per email, written in the transaction of the change that causes it
and sent by the worker (or `flask mail send`), retried with back-off when the server fails."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow

MAX_ERROR_LENGTH = 200


class OutboxMessage(db.Model):
    """An email waiting to be sent, or sent; kept after sending as the record that it went."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    # Which template made it ("invitation", "password_reset"...), for the operator's counts.
    template_name: Mapped[str] = mapped_column(String(64))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next try is due; None once sent or given up.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What the last failure was, in a few words: the error's kind and the server's code, never
    # the message's content (which may carry a one-time link).
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
