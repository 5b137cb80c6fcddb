"""A test person's authenticator app: its secret derived from their email, so any helper (an
HTTP test, a browser test, another process) can compute their codes; set up through the same
domain functions production uses, and typed in where the server asks for it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from urllib.parse import urlsplit

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from authserver.domain import second_factor
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.users import User

CODE_PAGE = "/sign-in/code"
SET_UP_PAGE = "/second-factor/set-up"
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
SETUP_KEY = re.compile(r'id="setup-key">([^<]+)<')
#: Secrets of people who set their authenticator up through the page (not derived).
SET_UP_BY_PAGE: dict[str, str] = {}


def secret_for(email: str) -> str:
    """The authenticator secret of a test person (base32, 160 bits)."""
    raw = hashlib.sha256(b"test authenticator " + email.lower().encode()).digest()[:20]
    return SET_UP_BY_PAGE.get(email.lower()) or base64.b32encode(raw).decode()


def _at(secret: str, moment: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(int(moment.timestamp()))


def code_for(email: str, *, steps_ahead: int = 0, now: dt.datetime | None = None) -> str:
    """The code the person's app shows now (or `steps_ahead` 30-second steps later)."""
    moment = (now or utcnow()) + dt.timedelta(seconds=30 * steps_ahead)
    return _at(secret_for(email), moment)


def enrol(user: User, secret_key: str) -> None:
    """Set up the person's authenticator as production does (in an app context; the caller
    commits). The confirming code is the previous step's, leaving the current and next steps
    for sign-ins."""
    SET_UP_BY_PAGE.pop(user.email.lower(), None)
    secret = second_factor.begin_set_up(user, secret_key=secret_key, secret=secret_for(user.email))
    now = utcnow()
    second_factor.confirm_set_up(
        user, _at(secret, now - dt.timedelta(seconds=30)), secret_key=secret_key, now=now
    )


def unused_code(app: Flask, email: str) -> str:
    """A code the server will accept now: of the steps it accepts (one either side of now),
    the first after the last one used, as a person waiting for the next code would type."""
    with app.app_context():
        user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        factor = second_factor.factor_of(user) if user is not None else None
        last = factor.last_used_step if factor is not None else None
    now = utcnow()
    current = int(now.timestamp()) // second_factor.STEP_SECONDS
    step = current - 1 if last is None else max(current - 1, last + 1)
    if step > current + 1:
        raise AssertionError(f"{email} has used every code the server accepts just now")
    return pyotp.TOTP(secret_for(email)).at(step * second_factor.STEP_SECONDS)


def pass_second_factor(client: FlaskClient, email: str, response: TestResponse) -> TestResponse:
    """After the password: type the code the server asks for (or set the authenticator up,
    for a person made without one). Returns the answer to that step, or `response` itself
    when no second factor was asked for."""
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    path = urlsplit(location).path
    if path not in (CODE_PAGE, SET_UP_PAGE):
        return response
    page = client.get(location)
    html = page.get_data(as_text=True)
    token = CSRF.search(html)
    assert token, html[:500]
    if path == SET_UP_PAGE:
        key = SETUP_KEY.search(html)
        assert key, html[:500]
        SET_UP_BY_PAGE[email.lower()] = key.group(1).replace(" ", "")
        code = pyotp.TOTP(SET_UP_BY_PAGE[email.lower()]).now()
    else:
        code = unused_code(client.application, email)
    return client.post(location, data={"csrf_token": token.group(1), "code": code})
