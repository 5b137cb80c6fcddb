"""Mail really leaves: a real SMTP server (aiosmtpd) in the test receives what the outbox
holds; a refusing or failing server leaves the message waiting with back-off, and a later
send delivers it; nothing secret reaches the log."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from authserver import mail_delivery
from authserver.domain.mail import queue_mail
from authserver.extensions import db
from authserver.models import OutboxMessage

SMTP_PASSWORD = "smtp-relay-password-not-to-be-logged"
SECRET_LINK = "https://auth.example.org/reset-password/secret-token-not-to-be-logged"


class Inbox:
    """aiosmtpd's handler: keeps each message; `fail_next` answers DATA with a 451."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.fail_next = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.fail_next:
            self.fail_next -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(envelope.original_content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def app_settings(smtp_port):
    return {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_TLS": "none",
        "MAIL_FROM": "no-reply@auth.example.org",
        "SMTP_PASSWORD": SMTP_PASSWORD,
    }


def queue(app) -> int:
    with app.app_context():
        message = queue_mail(
            "head@school.example.org",
            "Choose a new password",
            "password_reset",
            name="Head",
            link=SECRET_LINK,
            minutes=60,
        )
        db.session.commit()
        return message.id


def row(app, message_id: int) -> OutboxMessage:
    with app.app_context():
        found = db.session.get(OutboxMessage, message_id)
        db.session.expunge(found)
        return found


def test_a_queued_message_arrives_over_smtp(app, cli, inbox) -> None:
    message_id = queue(app)
    assert inbox.messages == []  # queued only: nothing is sent inside the request
    result = cli.invoke(args=["mail", "send"])
    assert "1 sent" in result.output
    [raw] = inbox.messages
    received = message_from_bytes(raw)
    assert received["To"] == "head@school.example.org"
    assert received["From"] == "no-reply@auth.example.org"
    assert received["Subject"] == "Choose a new password"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in received.walk()
        if not part.is_multipart()
    }
    assert SECRET_LINK in parts["text/plain"]
    assert SECRET_LINK in parts["text/html"]
    assert row(app, message_id).sent_at is not None
    cli.invoke(args=["mail", "send"])
    assert len(inbox.messages) == 1  # sent once


def test_a_refused_connection_waits_with_back_off_then_goes(app, cli, smtp_port, caplog) -> None:
    message_id = queue(app)
    caplog.set_level(logging.DEBUG)
    cli.invoke(args=["mail", "send"])  # nothing listens on the port yet
    failed = row(app, message_id)
    assert failed.sent_at is None
    assert failed.attempts == 1
    assert failed.last_error == "ConnectionRefusedError"
    assert failed.next_attempt_at - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=50)
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        cli.invoke(args=["mail", "send"])
        assert handler.messages == []  # not due yet: the back-off holds
        with app.app_context():
            outcome = mail_delivery.deliver_one(
                message_id, now=failed.next_attempt_at + dt.timedelta(seconds=1)
            )
        assert outcome.sent
        assert len(handler.messages) == 1
    finally:
        controller.stop()
    # Every record but the test SMTP server's own (aiosmtpd logs what it receives).
    logged = "\n".join(
        record.getMessage() + repr(record.args)
        for record in caplog.records
        if not record.name.startswith("mail.log")
    )
    assert "mail 1" in logged or "mail " in logged
    assert SECRET_LINK not in logged
    assert "secret-token" not in logged
    assert SMTP_PASSWORD not in logged


def test_a_failing_server_is_retried(app, inbox) -> None:
    inbox.fail_next = 1
    message_id = queue(app)
    with app.app_context():
        first = mail_delivery.deliver_one(message_id)
    assert first.failed
    assert first.retry_at is not None
    assert row(app, message_id).last_error == "SMTPDataError 451"
    with app.app_context():
        second = mail_delivery.deliver_one(message_id, now=first.retry_at)
    assert second.sent
    assert len(inbox.messages) == 1
    assert row(app, message_id).attempts == 2


def test_back_off_doubles_up_to_six_hours() -> None:
    assert [mail_delivery.backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert mail_delivery.backoff(50) == dt.timedelta(hours=6)


@pytest.mark.parametrize(
    ("to", "subject"),
    [("a@example.org\r\nBcc: b@example.org", "Hi"), ("a@example.org", "Hi\nBcc: x")],
)
def test_header_injection_is_refused(app, to, subject) -> None:
    from authserver.domain.mail import UnsafeAddress

    with app.app_context(), pytest.raises(UnsafeAddress):
        queue_mail(to, subject, "password_reset", name="", link="x", minutes=60)


def test_the_file_backend_writes_eml_files(tmp_path) -> None:
    from authserver import create_app

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    with app.app_context():
        db.create_all()
        queue_mail("x@example.org", "Hello", "password_reset", name="", link="l", minutes=60)
        db.session.commit()  # development's file mail is written as soon as it commits
        assert db.session.scalar(select(OutboxMessage.sent_at)) is not None
        db.engine.dispose()
    [written] = (tmp_path / "instance" / "mail").glob("*.eml")
    assert message_from_bytes(written.read_bytes())["Subject"] == "Hello"
