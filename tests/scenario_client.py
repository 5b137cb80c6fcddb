"""The client side of the concurrency and fault scenarios: one request and its reply, requests
released at the same moment, and the few exchanges (sign in, approve, tokens) they are built of."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import PASSWORD, basic_auth, csrf_token

# A reply slower than this counts as a hang: the client gives up and records a timeout.
CLIENT_TIMEOUT_SECONDS = 5.0
REDIRECT_URI = "https://app.example.com/callback"


@dataclass
class Reply:
    """One HTTP exchange as the caller saw it."""

    status: int  # 0 when no answer came (timeout or refused connection)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0
    failure: str | None = None  # "timeout" or "connection"
    kind: str = ""

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None

    @property
    def outcome(self) -> str:
        """The reply's class for the soak's table."""
        if self.failure:
            return self.failure
        if self.status == 503:
            return "503"
        if self.status >= 500:
            return "5xx"
        if self.status >= 400:
            return f"4xx {self.error or self.status}"
        return "2xx" if self.status < 300 else "3xx"


class Send(Protocol):
    """Send one request to a server and return the reply (never raises for HTTP trouble)."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply: ...


def live(base_url: str, session: requests.Session | None = None) -> Send:
    """Send to a live server with `requests`, giving up after CLIENT_TIMEOUT_SECONDS."""

    def send(
        method: str,
        path: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        started = time.monotonic()
        caller = session or requests
        try:
            answer = caller.request(
                method,
                base_url + path,
                data=data,
                headers=headers,
                timeout=CLIENT_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Reply(0, started=started, ended=time.monotonic(), failure="timeout")
        except requests.ConnectionError:
            return Reply(0, started=started, ended=time.monotonic(), failure="connection")
        try:
            body = answer.json()
        except ValueError:
            body = (
                {"html": answer.text} if "html" in answer.headers.get("Content-Type", "") else None
            )
        return Reply(answer.status_code, body, dict(answer.headers), started, time.monotonic())

    return send


def race(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run every call at the same moment (threads released together); replies in call order."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | None] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int, call: Callable[[], Reply]) -> None:
        try:
            barrier.wait(timeout=30)
            replies[index] = call()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if failures:
        raise failures[0]
    assert all(reply is not None for reply in replies), "a racing request never finished"
    return replies  # type: ignore[return-value]


@dataclass
class Round:
    """What one scenario round sent and what it found wrong (empty `problems` is a pass)."""

    name: str
    replies: list[Reply] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def sign_in_live(send: Send, email: str) -> None:
    """Sign in through the form, over `send` (which must keep cookies)."""
    page = send("GET", "/sign-in")
    reply = send(
        "POST",
        "/sign-in",
        data={"csrf_token": csrf_token(page.body["html"]), "email": email, "password": PASSWORD},
    )
    assert reply.status == 302, (reply.status, reply.body)
    location = reply.headers.get("Location", "")
    if not location.startswith("/sign-in/code"):
        return
    # The code of the person's authenticator (tests/authenticator.py); should this person have
    # signed in already within these 30 seconds, the app's next code.
    from tests.authenticator import code_for

    for steps_ahead in (0, 1):
        page = send("GET", location)
        answer = send(
            "POST",
            location,
            data={
                "csrf_token": csrf_token(page.body["html"]),
                "code": code_for(email, steps_ahead=steps_ahead),
            },
        )
        if answer.status == 302:
            return
    raise AssertionError(f"the code page refused {email}'s codes")


def approval_form(send: Send, urn: str, request_id: int) -> dict[str, str] | None:
    """The filled-in approval of a pending request, read from its consent page (None if the
    page did not load)."""
    page = send("GET", f"/schools/{urn}/requests/{request_id}")
    if page.status != 200:
        return None
    return {"csrf_token": csrf_token(page.body["html"]), "school": urn, "approve": "1"}


def approval_acknowledged(reply: Reply, urn: str) -> bool:
    """Whether the consent form's answer says the approval was kept (back to the dashboard)."""
    location = reply.headers.get("Location", "").split("#")[0]
    return reply.status == 302 and location.endswith(f"/schools/{urn}")


def vendor_bearer(send: Send, client: tuple[str, str]) -> dict[str, str]:
    """The application's own token for the management API."""
    reply = send(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(*client),
    )
    assert reply.status == 200, (reply.status, reply.body)
    return {"Authorization": "Bearer " + reply.body["access_token"]}


def school_token(send: Send, client: tuple[str, str], school_id: int, secret: str) -> Reply:
    """Turn a school secret into a token (the extension grant)."""
    return send(
        "POST",
        "/oauth/token",
        headers=basic_auth(*client),
        data={
            "grant_type": SCHOOL_SECRET_GRANT_TYPE,
            "school_id": str(school_id),
            "school_secret": secret,
        },
    )
