"""Security headers on every response (RFC 9700 §4.16 clickjacking, §4.2.4 Referer)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, current_app


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """Our CSP; `form_targets` are extra places a form may lead to (browsers apply form-action
    to the redirect that answers a form, so the consent form must reach the client's URI)."""
    form_action = " ".join(("'self'", *form_targets))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])$")


def origin_source(uri: str) -> tuple[str, ...]:
    """The origin of `uri` as a CSP source, or nothing if it is not plainly scheme://host:port
    (a URI must never be able to smuggle directives into the header)."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name:
        name, port = host, ""
    if parts.scheme not in {"https", "http"} or not _HOST.match(name):
        return ()
    if port and not port.isdigit():
        return ()
    return (f"{parts.scheme}://{host}",)


def init_app(app: Flask) -> None:
    """Add the headers after every request."""
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
    if not current_app.config["SETTINGS"].is_development:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
