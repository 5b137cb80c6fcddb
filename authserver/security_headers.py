"""Security headers on every response (RFC 9700 §4.16 clickjacking, §4.2.4 Referer), and
`Cache-Control: no-store` on every response unless its view says it may be cached."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """Our CSP; `form_targets` are extra places a form may lead to (browsers apply form-action
    to the redirect that answers a form, so the consent form must reach the client's URI)."""
    form_action = " ".join(("'self'", *form_targets))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
HSTS = "max-age=31536000; includeSubDomains"
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
    """Add the headers after every request, error pages included."""
    app.after_request(_header_setter(hsts=not app.config["SETTINGS"].is_development))


def _header_setter(*, hsts: bool) -> Callable[[Response], Response]:
    # Decided once here: the hook runs on every token, introspection and API request.
    every_response = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if hsts:
        every_response["Strict-Transport-Security"] = HSTS
    every_page = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY"}

    def add_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in every_response.items():
            headers.setdefault(name, value)
        # Secrets and personal data are the rule here, not the exception: a response is never
        # stored unless its view chose a Cache-Control (the public catalogue, metadata, JWKS,
        # static files). Every HTML page names the signed-in person and carries their CSRF token.
        headers.setdefault("Cache-Control", "no-store")
        if response.mimetype == "text/html":
            for name, value in every_page.items():
                headers.setdefault(name, value)
        return response

    return add_headers
