"""The connector's side of HTTP: a client-credentials token kept for its lifetime, requests
retried with back-off when the server says "later", and errors in words rather than
tracebacks."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

#: Connect and read timeouts: a snapshot of 10,000 records may be applied while we wait.
TIMEOUT_SECONDS = (10.0, 300.0)
#: Attempts at one request before giving up, and the longest pause between two.
MAX_ATTEMPTS = 8
MAX_PAUSE_SECONDS = 120.0
FIRST_PAUSE_SECONDS = 1.0
#: Renew a token this long before the server says it expires.
TOKEN_MARGIN_SECONDS = 30.0
#: Statuses that mean "try again later" whatever the body says.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class AgentError(Exception):
    """Something the agent cannot get past, in words for whoever runs it."""

    #: The process's exit status: 1 a failure, 3 "paused, try later" (for a scheduler).
    exit_code = 1

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class SyncPaused(AgentError):
    """The school has paused its sync (over the year rollover): nothing is taken for now."""

    exit_code = 3


def pause_before_retry(
    response: requests.Response | None, attempt: int, *, now: float | None = None
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when retrying would not help.

    `response` is None when no answer came (connection refused, reset or timed out).
    """
    if attempt >= MAX_ATTEMPTS:
        return None
    if response is not None:
        retryable = response.status_code in RETRY_STATUSES or (
            response.status_code == 409 and error_code(response) == "in_progress"
        )
        if not retryable:
            return None
        asked = retry_after(response, now=now)
        if asked is not None:
            return min(asked, MAX_PAUSE_SECONDS)
    return min(FIRST_PAUSE_SECONDS * 2 ** (attempt - 1), MAX_PAUSE_SECONDS)


def retry_after(response: requests.Response, *, now: float | None = None) -> float | None:
    """The server's Retry-After (RFC 9110 §10.2.3: seconds or an HTTP date), in seconds."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_code(response: requests.Response) -> str | None:
    """The `error` of an OAuth-style JSON error body, if the body is one."""
    body = json_or_none(response)
    return body.get("error") if isinstance(body, dict) else None


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def describe(response: requests.Response) -> str:
    """A refusal in a line: status, the server's error and its description."""
    body = json_or_none(response)
    if isinstance(body, dict) and body.get("error"):
        words = body.get("error_description") or ""
        return f"{response.status_code} {body['error']}: {words}".rstrip(": ")
    return f"{response.status_code} {response.reason or ''}".strip()


@dataclass
class Token:
    value: str
    expires_at: float


@dataclass
class ConnectorAPI:
    """The school's connector talking to one server: `call` sends a request to /connector/v1
    with a valid token and the retries, and returns the final answer."""

    server: str
    client_id: str
    client_secret: str = field(repr=False)
    http: requests.Session = field(default_factory=requests.Session)
    #: How the agent waits between attempts (tests pass one that only records the pauses).
    sleep: Callable[[float], None] = time.sleep
    _token: Token | None = field(default=None, init=False, repr=False)
    _token_endpoint: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.server = self.server.rstrip("/")

    # --- Requests ---------------------------------------------------------------------------

    def call(self, method: str, path: str, **options: Any) -> requests.Response:
        """`method` /connector/v1/`path`, renewing the token once on 401; raises AgentError
        when no answer came after the retries."""
        url = f"{self.server}/connector/v1/{path.lstrip('/')}"
        response = self._send(method, url, authorised=True, **options)
        if response.status_code == 401:
            self._token = None  # revoked or expired early: one new token, one more try
            response = self._send(method, url, authorised=True, **options)
        if response.status_code == 401:
            raise AgentError(f"The server refused the connector's token: {describe(response)}")
        return response

    def get_json(self, path: str, **options: Any) -> Any:
        """GET a /connector/v1 document, or AgentError with the server's words."""
        response = self.call("GET", path, **options)
        if response.status_code != 200:
            raise AgentError(f"GET {path} was refused: {describe(response)}")
        return response.json()

    def _send(
        self, method: str, url: str, *, authorised: bool, **options: Any
    ) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            headers = dict(options.pop("headers", None) or {})
            if authorised:
                headers["Authorization"] = f"Bearer {self.token()}"
            options["headers"] = headers
            try:
                response: requests.Response | None = self.http.request(
                    method, url, timeout=TIMEOUT_SECONDS, **options
                )
            except requests.RequestException as error:
                response, failure = None, error
            pause = pause_before_retry(response, attempt)
            if pause is None:
                if response is None:
                    raise AgentError(
                        f"No answer from {self.server} after {attempt} attempts: "
                        f"{type(failure).__name__}: {failure}"
                    )
                return response
            if response is not None:
                response.close()
            self.sleep(pause)

    # --- Tokens -----------------------------------------------------------------------------

    def token(self) -> str:
        """A connector access token, fetched once and kept until shortly before it expires."""
        if self._token is None or time.monotonic() >= self._token.expires_at:
            self._token = self._fetch_token()
        return self._token.value

    def _fetch_token(self) -> Token:
        # RFC 6749 §4.4: client credentials, the client authenticated with HTTP Basic.
        response = self._send(
            "POST",
            self.token_endpoint(),
            authorised=False,
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise AgentError(f"The server gave no token: {describe(response)}")
        lifetime = float(body.get("expires_in") or 300)
        expires_at = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
        return Token(body["access_token"], expires_at)

    def token_endpoint(self) -> str:
        """The token endpoint, from the server's metadata (RFC 8414)."""
        if self._token_endpoint is None:
            url = f"{self.server}/.well-known/oauth-authorization-server"
            response = self._send("GET", url, authorised=False)
            body = json_or_none(response)
            if response.status_code != 200 or not isinstance(body, dict):
                raise AgentError(f"{url} is not an authorisation server's metadata.")
            self._token_endpoint = body["token_endpoint"]
        return self._token_endpoint
