"""Nothing secret is ever logged: every log record of a whole journey, at DEBUG on every logger
(the server's, Flask's, Werkzeug's, Authlib's, SQLAlchemy's with its SQL), and every URL the
journey asked for (what an access log would keep), is free of each secret it used."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import Role, User
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.conftest import PASSWORD
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, query_of, sign_in

REDIRECT_URI = "https://lunch.example.com/callback"
LOGGERS = ["", "authserver", "werkzeug", "authlib", "sqlalchemy", "sqlalchemy.engine"]
BCRYPT_HASH = re.compile(r"\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}")


class RequestLine:
    """WSGI middleware that keeps what an access log would: each request's method, path and
    query, and its Referer."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app
        self.lines: list[str] = []

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        path = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        self.lines.append(f"{environ['REQUEST_METHOD']} {path} {environ.get('HTTP_REFERER', '')}")
        return self.wsgi_app(environ, start_response)


def everything_in(record: logging.LogRecord) -> str:
    """A record as any handler could write it: formatted message with its exception and stack,
    the raw template and arguments, and any extra attributes."""
    return "\n".join(
        [logging.Formatter().format(record), str(record.msg), repr(record.args), repr(vars(record))]
    )


def register(browser: FlaskClient, resource_servers: list[str]) -> tuple[str, str]:
    """The vendor's admin registers an application on the vendor pages, calling
    `resource_servers` (client ids): (client_id, secret)."""
    html = browser.get("/vendor/applications/new").get_data(as_text=True)
    key = re.search(r'name="registration_key" type="hidden" value="([^"]*)"', html)
    response = browser.post(
        "/vendor/applications/new",
        data={
            "csrf_token": csrf_token(html),
            "registration_key": key.group(1),
            "name": "Lunch Line",
            "description": "Pre-ordered school meals.",
            "redirect_uris": REDIRECT_URI,
            "privacy_policy_url": "https://lunch.example.com/privacy",
            "terms_url": "https://lunch.example.com/terms",
            "token_endpoint_auth_method": "client_secret_basic",
            "scope_StudentLite": "required",
            "purpose_StudentLite": "To show pupils' names at the till.",
            "resource_servers": resource_servers,
        },
    )
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    client_id = re.search(r'id="client-id" value="([^"]+)"', page).group(1)
    return client_id, re.search(r'id="client-secret" value="([^"]+)"', page).group(1)


@pytest.fixture(autouse=True)
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG before the app exists: SQLAlchemy decides whether a connection
    logs its SQL when the connection is made (the test's own, in a rolled-back test)."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def test_a_whole_journey_logs_no_secret(
    app: Flask, caplog: pytest.LogCaptureFixture, make_user, school, vendor, resource_server
) -> None:
    requests_seen = RequestLine(app.wsgi_app)
    app.wsgi_app = requests_seen
    secrets: dict[str, str] = {"password": PASSWORD, "SECRET_KEY": app.config["SECRET_KEY"]}

    def keep(name: str, value: str) -> str:
        assert value, name
        secrets[name] = value
        return value

    # People, made as production makes them (their password hashes are secrets too).
    school_admin = make_user(Role.SCHOOL_ADMIN, school=school)
    vendor_admin = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    server, server_secret = resource_server
    keep("resource server secret", server_secret)

    # The vendor registers an application and is shown its client secret once.
    vendor_browser = app.test_client()
    assert sign_in(vendor_browser, vendor_admin.email).status_code == 302
    client_id, client_secret = register(vendor_browser, [server.client_id])
    keep("client secret", client_secret)
    keep("client basic auth", basic_auth(client_id, client_secret)["Authorization"])

    # Failures: a wrong password, a wrong client secret.
    school_browser = app.test_client()
    wrong = keep("wrong password", "not the right horse battery")
    assert sign_in(school_browser, school_admin.email, wrong).status_code == 401
    flow = OAuthFlow(school_browser, client_id, client_secret, REDIRECT_URI)
    # Flip the first character (a fixed "x" would be the real secret one time in 64).
    first = "y" if client_secret[0] == "x" else "x"
    bad_auth = basic_auth(client_id, keep("wrong client secret", first + client_secret[1:]))
    rejected = flow.token_request({"grant_type": "client_credentials"}, headers=bad_auth)
    assert rejected.status_code == 401

    # The school admin signs in and approves; the code is exchanged, then refreshed.
    assert flow.sign_in(school_admin.email).status_code == 302
    keep("school admin session", school_browser.get_cookie("session").value)
    code = keep("authorization code", flow.code())
    keep("code verifier", flow.verifier)
    first = flow.exchange(code).get_json()
    keep("access token", first["access_token"])
    keep("refresh token", first["refresh_token"])
    refreshed = flow.refresh(first["refresh_token"]).get_json()
    keep("refreshed access token", refreshed["access_token"])
    keep("refreshed refresh token", refreshed["refresh_token"])

    # A second code, exchanged, then replayed (the replay is refused and revokes its tokens).
    flow.start()
    second_code = keep("second code", query_of(flow.decide())["code"])
    keep("second verifier", flow.verifier)
    keep("second access token", flow.exchange(second_code).get_json()["access_token"])
    replayed = flow.exchange(second_code)
    assert (replayed.status_code, replayed.get_json()["error"]) == (400, "invalid_grant")

    # The vendor's server: its own token, a school secret claimed and exchanged, a data read.
    vendor_server = app.test_client()
    own = flow.token_request({"grant_type": "client_credentials"}, headers=None)
    assert own.status_code == 200
    own_token = keep("client credentials token", own.get_json()["access_token"])
    claimed = vendor_server.post(
        f"/api/v1/connections/{school.id}/secret",
        headers={"Authorization": f"Bearer {own_token}"},
    )
    assert claimed.status_code == 201
    school_secret = keep("school secret", claimed.get_json()["school_secret"])
    exchanged = vendor_server.post(
        "/oauth/token",
        headers=basic_auth(client_id, client_secret),
        data={
            "grant_type": SCHOOL_SECRET_GRANT_TYPE,
            "school_id": str(school.id),
            "school_secret": school_secret,
        },
    )
    assert exchanged.status_code == 200
    school_token = keep("school token", exchanged.get_json()["access_token"])
    read = vendor_server.get(
        "/api/v1/students", headers={"Authorization": f"Bearer {school_token}"}
    )
    assert read.status_code == 200

    # A resource server introspects; the vendor revokes; the revoked token is refused.
    server_auth = basic_auth(server.client_id, server_secret)
    keep("resource server basic auth", server_auth["Authorization"])
    introspected = vendor_server.post(
        "/oauth/introspect", data={"token": refreshed["access_token"]}, headers=server_auth
    )
    assert introspected.get_json()["active"] is True
    revoked = vendor_server.post(
        "/oauth/revoke",
        data={"token": refreshed["refresh_token"]},
        headers=basic_auth(client_id, client_secret),
    )
    assert revoked.status_code == 200
    refused = vendor_server.get(
        "/api/v1/students", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert refused.status_code == 401

    with app.app_context():
        for number, digest in enumerate(db.session.scalars(select(User.password_hash))):
            keep(f"password hash {number}", digest)

    # The capture saw the journey, SQL included: an empty log would prove nothing.
    records = caplog.get_records("call")
    names = {record.name for record in records}
    assert "sqlalchemy.engine.Engine" in names
    assert any(r.name.startswith("authserver") and "registered" in r.getMessage() for r in records)
    assert any(r.msg == "Issue token %r to %r" for r in records)  # Authlib's DEBUG, redacted
    assert len(requests_seen.lines) > 20

    for record in records:
        text = everything_in(record)
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{', '.join(leaked)} logged by {record.name}: {text[:300]}"
        assert not BCRYPT_HASH.search(text), f"a bcrypt hash logged by {record.name}"
    for line in requests_seen.lines:
        leaked = [name for name, value in secrets.items() if value in line]
        assert not leaked, f"{', '.join(leaked)} in a request URL: {line}"
