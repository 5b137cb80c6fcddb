"""Malformed requests stopped before any view: parameters that are not UTF-8 text or hold NUL
characters, OAuth parameters outside the syntax RFC 6749 gives them, client credentials that are
not a scheme and a value or not UTF-8, and repeated parameters on the API.

Werkzeug keeps undecodable escapes as the literal text "%FF" (and fails on a raw non-UTF-8
query), PostgreSQL refuses NUL in text and Authlib cannot quote control characters in an error:
either way a view would act on something other than what was sent, or fail with a 500.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from flask import Flask, abort, current_app, request

FORM = "application/x-www-form-urlencoded"

# RFC 6749 Appendix A: every parameter of ours is printable ASCII (VSCHAR, or narrower: NQCHAR
# for scope, unreserved for PKCE; a URI for redirect_uri). Unknown parameters are ignored (§3.1),
# and so is `state`: the client's own opaque value, only ever echoed back URL-encoded, which
# clients in the wild do fill with UTF-8.
OAUTH_PARAMETERS = frozenset(
    {
        "client_id",
        "client_secret",
        "code",
        "code_challenge",
        "code_challenge_method",
        "code_verifier",
        "grant_type",
        "redirect_uri",
        "refresh_token",
        "request_uri",
        "response_type",
        "school_id",
        "school_secret",
        "scope",
        "token",
        "token_type_hint",
    }
)
VSCHAR = re.compile(r"[\x20-\x7e]*")


def init_app(app: Flask) -> None:
    """Check every request first of all: before CSRF or a rate limit's key reads the form,
    which would decode it leniently (and a raw non-UTF-8 query string would be a 500)."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_malformed_input)


def text_problem(encoded: bytes) -> str | None:
    """Why URL-encoded parameters (a query string or form body) are not acceptable, or None."""
    if encoded.isascii() and b"%" not in encoded:
        return None  # plain ASCII without escapes: nothing to decode (the common case)
    # Decoded whole: "&" and "=" are ASCII, so no UTF-8 sequence spans two parameters, and a
    # NUL anywhere is a NUL in some parameter.
    try:
        text = unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "Parameters must be UTF-8 text."
    if "\x00" in text:
        return "Parameters must not contain NUL characters."
    return None


def oauth_parameters_problem(parameters: Mapping[str, str]) -> str | None:
    """Which OAuth parameters fall outside RFC 6749's syntax (printable ASCII), or None."""
    bad = sorted(
        name
        for name in OAUTH_PARAMETERS.intersection(parameters)
        if not VSCHAR.fullmatch(parameters[name])
    )
    if bad:
        return f"These parameters must be printable ASCII (RFC 6749 Appendix A): {', '.join(bad)}."
    return None


def _holds_nul(body: bytes) -> bool:
    return b"\\u0000" in body or b"\x00" in body


def _client_credentials_problem() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    parts = header.split(None, 1)
    if len(parts) != 2:
        # Authlib reads "scheme credentials" without checking there are two (a 500 otherwise).
        return "The Authorization header must be a scheme and credentials."
    scheme, credentials = parts
    if scheme.lower() != "basic":
        return None
    try:
        base64.b64decode(credentials.strip()).decode("utf-8")
    except (binascii.Error, ValueError):
        # RFC 7617 §2.1: the user-id and password are UTF-8 (the charset we announce).
        return "HTTP Basic credentials must be base64 of UTF-8 text."
    return None


def refuse_malformed_input() -> None:
    """Stop the request with a 400 (JSON or a page, as the caller expects) if it is malformed."""
    # The few endpoints that take large bodies (the app's BODY_LIMITS, by endpoint or
    # blueprint) get their limit before anything here, or CSRF, reads the body.
    limits = current_app.config.get("BODY_LIMITS", {})
    limit = limits.get(request.endpoint or "") or limits.get(request.blueprint or "")
    if limit is not None:
        request.max_content_length = limit
    problem = text_problem(request.query_string)
    if problem is None and request.mimetype == FORM:
        # Read (and keep) the raw body: the form is parsed from it afterwards.
        problem = text_problem(request.get_data(cache=True))
    # A compressed body holds NUL bytes of its own; its reader checks the text once inflated.
    compressed = request.headers.get("Content-Encoding", "identity").lower() != "identity"
    if (
        problem is None
        and request.is_json
        and not compressed
        and _holds_nul(request.get_data(cache=True))
    ):
        problem = "JSON strings must not contain NUL characters."
    if problem is None and request.path.startswith("/oauth/"):
        problem = oauth_parameters_problem(request.args) or _client_credentials_problem()
        if problem is None and request.mimetype == FORM:
            problem = oauth_parameters_problem(request.form)
    if problem is None and request.path.startswith("/api/"):
        # RFC 6749 §3.1 asks the same of OAuth requests; one value per name keeps the API plain.
        repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
        if repeated:
            problem = f"Parameters must not be repeated: {', '.join(repeated)}."
    if problem is not None:
        abort(400, problem)
