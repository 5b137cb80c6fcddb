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
    # Decided once here, and added in one call: the hook runs on every token, introspection and
    # API request, and each single header lookup or insert in Werkzeug costs microseconds.
    every_response = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    if hsts:
        every_response.append(("Strict-Transport-Security", HSTS))
    # Secrets and personal data are the rule here, not the exception: a response is never
    # stored unless its view chose a Cache-Control (the public catalogue, metadata, JWKS,
    # static files). Every HTML page names the signed-in person and carries their CSRF token.
    every_response.append(("Cache-Control", "no-store"))
    every_page = [
        *every_response,
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
    ]
    for_pages = [(name.lower(), name, value) for name, value in every_page]
    for_others = for_pages[: len(every_response)]

    def add_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        is_page = headers.get("Content-Type", "").startswith("text/html")
        # A view's own value wins (the consent page's CSP, a public document's Cache-Control).
        headers.extend(
            [
                (name, value)
                for lowered, name, value in (for_pages if is_page else for_others)
                if lowered not in present
            ]
        )
        return response

    return add_headers
