"""Email in the domain's words: `queue_mail` adds a message to the outbox in the caller's unit
of work (it is sent only if that commits), and `security_notice` tells a person of a change to
their account. Sending is `authserver.mail_delivery`'s work, never done here."""

from __future__ import annotations

import enum
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from authserver.domain.jobs import DELIVER_MAIL, send_after_commit
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.mail import OutboxMessage
from authserver.models.users import User

MAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"


class UnsafeAddress(ValueError):
    """An address or subject that would let a header be injected."""


@cache
def _environment() -> jinja2.Environment:
    # Autoescape only the HTML part: the text part is plain text, where escaping would show.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(MAIL_TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template_name: str, **context: Any) -> tuple[str, str | None]:
    """The text body of `mail/<name>.txt` and, when there is one, the HTML of `<name>.html`."""
    environment = _environment()
    text = environment.get_template(f"{template_name}.txt").render(**context)
    html = None
    if (MAIL_TEMPLATES / f"{template_name}.html").exists():
        html = environment.get_template(f"{template_name}.html").render(**context)
    return text, html


def queue_mail(to: str, subject: str, template_name: str, **context: Any) -> OutboxMessage:
    """Add an email to the outbox in the caller's unit of work: it goes once that commits, and
    not at all if it rolls back."""
    if any(c in to + subject for c in "\r\n") or "@" not in to:
        raise UnsafeAddress("an email address or subject may not hold a line break")
    text, html = render(template_name, **context)
    now = utcnow()
    message = OutboxMessage(
        to_address=to,
        subject=subject[:200],
        template_name=template_name,
        text_body=text,
        html_body=html,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    db.session.add(message)
    send_after_commit(DELIVER_MAIL, message)
    return message


class NoticeKind(enum.StrEnum):
    """The changes to an account its person is told of by email."""

    NEW_SIGN_IN = "new_sign_in"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind of notice)
    ROLE_CHANGED = "role_changed"
    SECOND_FACTOR_CHANGED = "second_factor_changed"


NOTICE_SUBJECTS = {
    NoticeKind.NEW_SIGN_IN: "New sign-in to your account",
    NoticeKind.PASSWORD_CHANGED: "Your password was changed",
    NoticeKind.ROLE_CHANGED: "What you may do has changed",
    NoticeKind.SECOND_FACTOR_CHANGED: "Your sign-in security was changed",
}


def security_notice(user: User, kind: NoticeKind | str, **context: Any) -> OutboxMessage:
    """Tell `user` by email of a change to their account (`kind`, a NoticeKind), in the caller's
    unit of work. `context` fills the notice's template (`security_<kind>.txt`); every
    template knows `name`, and `help` (what to do if it was not them) when given."""
    kind = NoticeKind(kind)
    return queue_mail(
        user.email,
        NOTICE_SUBJECTS[kind],
        f"security_{kind.value}",
        name=user.name,
        **context,
    )
