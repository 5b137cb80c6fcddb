"""Rate limits on the machine endpoints: per client at the token and introspection endpoints,
per access token on the resource API. Counts live in Redis when configured, else in memory.

Key functions run on every request to the hottest paths, so they read only the request itself:
no database, no client lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from authserver.domain.credentials import digest
from authserver.extensions import limiter

# Our client ids are far shorter; anything longer cannot be a client, so it need not be kept.
MAX_CLIENT_ID_LENGTH = 64

View = TypeVar("View", bound=Callable[..., object])


def _setting(name: str) -> Callable[[], str]:
    """A limit read from the current app's settings at each request (tests shrink them)."""
    return lambda: getattr(current_app.config["SETTINGS"], name)


def presented_client_id() -> str | None:
    """The client_id the caller presents, in HTTP Basic or the form body (RFC 6749 §2.3.1)."""
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic" and authorization.username:
        # RFC 6749 §2.3.1: Basic credentials are form-encoded first, as Authlib reads them.
        return unquote(authorization.username)
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    try:
        client_id = request.form.get("client_id")
    except HTTPException:  # too large: the view answers that, with its own error
        return None
    return client_id or None


def client_key() -> str:
    """Count by client; a request naming no client counts against its address."""
    client_id = presented_client_id()
    if client_id:
        return "client:" + client_id[:MAX_CLIENT_ID_LENGTH]
    return "address:" + get_remote_address()


def client_authenticated(response: Response) -> bool:
    """Whether a request counts against its client: only once the client has proved who it is.

    A client_id is public, so counting failed authentications would let anyone spend a
    vendor's allowance and stall its nightly sync; guessing a 256-bit secret needs no limit.
    """
    if response.status_code not in (400, 401):
        return True
    body = response.get_json(silent=True)
    return not (isinstance(body, dict) and body.get("error") == "invalid_client")


def bearer_token_key() -> str:
    """Count by access token, under its SHA-256 digest: limiter keys land in Redis, where a raw
    token must never be. A request without one counts against its address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return "token:" + digest(token)
    return "address:" + get_remote_address()


def per_client(setting: str) -> Callable[[View], View]:
    """Limit a view per client to the named setting (e.g. `token_requests_per_client`)."""
    return limiter.limit(
        _setting(setting),
        key_func=client_key,
        deduct_when=client_authenticated,
    )


def limit_per_token(blueprint: Blueprint, setting: str) -> None:
    """Limit every route of `blueprint` together, per access token, to the named setting."""
    limiter.shared_limit(_setting(setting), scope=blueprint.name, key_func=bearer_token_key)(
        blueprint
    )
