"""Checking a person's second-factor code wherever one is asked for (sign-in, step-up, the
account page), throttled like sign-in: wrong codes count per account and per address."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable

from flask import current_app, render_template, request
from limits import RateLimitItem, parse_many
from werkzeug.wrappers import Response

from authserver.domain import second_factor
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db, limiter
from authserver.models.columns import utcnow
from authserver.models.users import User
from authserver.web.security_headers import content_security_policy
from consent.signin import current_session, forget_awaited

#: The step-up page's code field: its own name, so it never meets a field of the form it guards.
STEP_UP_FIELD = "step_up_code"
WRONG_CODE = (
    "That code is not right, or was already used. Type the code your authenticator app shows "
    "now, or one of your recovery codes."
)


class TooManyAttempts(Exception):
    """Too many wrong codes lately, for this account or from this address."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("too many wrong second-factor codes")
        self.retry_after_seconds = retry_after_seconds


def _limits(user: User) -> list[tuple[RateLimitItem, str]]:
    settings = current_app.config["SETTINGS"]
    per_account = parse_many(settings.second_factor_failures_per_account)
    per_address = parse_many(settings.second_factor_failures_per_address)
    return [(rate, f"second-factor:account:{user.id}") for rate in per_account] + [
        (rate, f"second-factor:address:{request.remote_addr}") for rate in per_address
    ]


def _refuse_if_throttled(user: User) -> None:
    # Flask-Limiter's own strategy and storage (Redis when configured), as sign-in's limits use.
    strategy = limiter.limiter
    for rate, key in _limits(user):
        if not strategy.test(rate, key):
            reset_at = strategy.get_window_stats(rate, key).reset_time
            raise TooManyAttempts(max(1, math.ceil(reset_at - time.time())))


def check_code(user: User, code: str) -> second_factor.Check | None:
    """Check a typed code; a wrong one counts towards the limits. The caller commits either
    way (a wrong code's audit event, a right one's use). Raises TooManyAttempts, before looking
    at the code, when over a limit."""
    _refuse_if_throttled(user)
    verdict = second_factor.check(
        user, code, secret_key=current_app.config["SECRET_KEY"], now=utcnow()
    )
    if verdict is None:
        for rate, key in _limits(user):
            limiter.limiter.hit(rate, key)
    return verdict


def too_many_page(refusal: TooManyAttempts) -> Response:
    """The page for too many wrong codes, saying when to try again."""
    minutes = max(1, math.ceil(refusal.retry_after_seconds / 60))
    page = render_template(
        "error.html",
        status=429,
        title="Too many attempts",
        message=f"Too many wrong codes. Wait {minutes} minute{'s' if minutes != 1 else ''}, "
        "then try again.",
    )
    return Response(
        page,
        status=429,
        mimetype="text/html",
        headers={"Retry-After": str(refusal.retry_after_seconds)},
    )


def mark_checked(now: dt.datetime | None = None) -> None:
    """Record in this request's session that the second factor was just proved."""
    found = current_session()
    if found is not None:
        found.second_factor_at = now or utcnow()
    forget_awaited()


def step_up_window() -> dt.timedelta:
    return dt.timedelta(minutes=current_app.config["SETTINGS"].step_up_minutes)


def step_up_due(scopes: Iterable[str]) -> bool:
    """Whether approving `scopes` in this session needs the second factor again now."""
    found = current_session()
    return second_factor.step_up_due(
        scopes,
        found.second_factor_at if found is not None else None,
        window=step_up_window(),
        catalogue=default_catalogue(),
    )


def step_up(
    scopes: Iterable[str], action: str, form_targets: tuple[str, ...] = ()
) -> Response | None:
    """None when an approval of `scopes` may go ahead; otherwise the page asking for the code
    again, which posts the approval's own fields back to `action` with the code beside them, so
    the person's choices carry through. A right code is recorded and the approval goes on.
    `form_targets`: where the approval's answer may redirect (the consent page's CSP)."""
    scopes = list(scopes)
    if not step_up_due(scopes):
        return None
    found = current_session()
    if found is None:  # the views have already required a signed-in person
        return None
    user = found.user
    error = None
    typed = request.form.get(STEP_UP_FIELD)
    if typed is not None:
        try:
            verdict = check_code(user, typed[:40]) if typed.strip() else None
        except TooManyAttempts as refusal:
            db.session.rollback()
            return too_many_page(refusal)
        if verdict is not None:
            mark_checked()
            db.session.commit()
            return None
        db.session.commit()  # the failure's audit event
        error = WRONG_CODE if typed.strip() else "Enter the code your authenticator app shows."
    carried = [
        (name, value)
        for name, values in request.form.lists()
        if name not in ("csrf_token", STEP_UP_FIELD)
        for value in values
    ]
    sensitive = second_factor.sensitive_among(scopes, default_catalogue())
    page = render_template(
        "step_up.html",
        field_name=STEP_UP_FIELD,
        carried=carried,
        action=action,
        error=error,
        sensitive=[default_catalogue()[name] for name in sensitive],
        minutes=current_app.config["SETTINGS"].step_up_minutes,
    )
    return Response(
        page,
        status=400 if error else 200,
        mimetype="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": content_security_policy(form_targets),
        },
    )
