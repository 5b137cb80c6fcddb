"""Sending the mail outbox: over SMTP, or into .eml files in development, retried with
exponential back-off when the server refuses or cannot be reached.

SMTP is spoken with the standard library's smtplib: it does STARTTLS and implicit TLS with
certificate checks (through `ssl.create_default_context`), authentication and timeouts, which
is all a relay needs; a third-party client would add a dependency and nothing we use. Nothing
here logs a message's content (a one-time link is a secret) nor the server's password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import select

from authserver import instance
from authserver.config import Settings
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.mail import MAX_ERROR_LENGTH, OutboxMessage

log = logging.getLogger("authserver.mail")

#: After this many failed attempts (about a day and a half of back-off) a message is given up.
MAX_ATTEMPTS = 12
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(hours=6)


def backoff(failed_attempts: int) -> dt.timedelta:
    """How long to wait after the n-th failed attempt: 1, 2, 4, 8 ... minutes, at most 6 h."""
    exponent = min(max(failed_attempts - 1, 0), 16)
    return min(FIRST_RETRY * 2**exponent, LONGEST_RETRY)


class Backend(Protocol):
    """Where a message goes."""

    def send(self, message: EmailMessage) -> None:
        """Send one message, raising on failure."""


def mail_folder(settings: Settings) -> Path:
    """Where the file backend writes mail: instance/mail/."""
    return Path(settings.instance_path) / "mail"


class FileBackend:
    """Development: each message as an .eml file under instance/mail/ (owner-only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        instance.make_folder(self.folder)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{message['X-Outbox-Id']}.eml"
        fd = instance.create_file(self.folder / name, replace=True)
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(message))


class SmtpBackend:
    """A mail relay over SMTP: STARTTLS, implicit TLS or (only on a trusted network) none."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if s.smtp_tls == "ssl":
            client = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        with client:
            if s.smtp_tls == "starttls":
                client.starttls(context=context)
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
            client.send_message(message)


def backend_for(settings: Settings) -> Backend:
    """The backend the settings name."""
    if settings.mail_backend == "file":
        return FileBackend(mail_folder(settings))
    return SmtpBackend(settings)


def as_email(row: OutboxMessage, mail_from: str) -> EmailMessage:
    """The outbox row as an RFC 5322 message, text first and HTML as its alternative."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = make_msgid(f"outbox{row.id}", domain=mail_from.rsplit("@", 1)[1])
    # RFC 3834: automatic mail; well-behaved auto-responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Outbox-Id"] = str(row.id)
    message.set_content(row.text_body)
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html")
    return message


def _failure_words(error: Exception) -> str:
    """What went wrong, for the outbox and the log: the error's kind and SMTP code only (a
    server's reply text may echo addresses or content)."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(reply[0]) for reply in error.recipients.values()})
        code = "/".join(codes)
    words = type(error).__name__ + (f" {code}" if code else "")
    return words[:MAX_ERROR_LENGTH]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One attempt: sent, or when to try again (None: not due, already sent, or given up)."""

    sent: bool
    failed: bool
    retry_at: dt.datetime | None


def deliver_one(
    message_id: int, *, now: dt.datetime | None = None, backend: Backend | None = None
) -> Outcome:
    """Try to send one due message, in a transaction of its own (committed). On PostgreSQL
    a message another sender holds is skipped (FOR UPDATE SKIP LOCKED)."""
    now = now or utcnow()
    settings: Settings = current_app.config["SETTINGS"]
    row = db.session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True)
    )
    if row is None:
        db.session.rollback()
        return Outcome(sent=False, failed=False, retry_at=None)
    row.attempts += 1
    try:
        (backend or backend_for(settings)).send(as_email(row, settings.mail_from))
    except (OSError, smtplib.SMTPException) as error:
        row.last_error = _failure_words(error)
        if row.attempts >= MAX_ATTEMPTS:
            row.next_attempt_at = None
            log.error(
                "mail %s: %s; given up after %d attempts", row.id, row.last_error, row.attempts
            )
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            log.warning(
                "mail %s: %s; trying again at %s", row.id, row.last_error, row.next_attempt_at
            )
        retry_at = row.next_attempt_at
        db.session.commit()
        return Outcome(sent=False, failed=True, retry_at=retry_at)
    row.sent_at, row.next_attempt_at, row.last_error = now, None, None
    db.session.commit()
    log.info("mail %s (%s) sent", row.id, row.template_name)
    return Outcome(sent=True, failed=False, retry_at=None)


def due_ids(
    now: dt.datetime, *, limit: int = 50, older_than: dt.timedelta | None = None
) -> list[int]:
    """Ids of messages due now (or, with `older_than`, due for at least that long)."""
    moment = now - older_than if older_than else now
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= moment)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )


def deliver_due(*, now: dt.datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Send up to `limit` due messages, each in its own transaction; returns the counts."""
    now = now or utcnow()
    ids = due_ids(now, limit=limit)
    db.session.rollback()
    counts = {"sent": 0, "failed": 0}
    for message_id in ids:
        outcome = deliver_one(message_id, now=now)
        counts["sent"] += int(outcome.sent)
        counts["failed"] += int(outcome.failed)
    return counts
