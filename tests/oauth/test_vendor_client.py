"""The whole flow as a vendor runs it: requests-oauthlib against a live server on loopback."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from requests_oauthlib import OAuth2Session
from werkzeug.serving import make_server

from authserver import create_app
from tests.authenticator import code_for
from tests.oauth_flow import PASSWORD, csrf_token

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def live_server(app, same_database, database_url: str, tmp_path, monkeypatch) -> Iterator[str]:
    """The server on a loopback port, sharing the test's database; yields its issuer URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    live = same_database(
        create_app(
            {
                "DATABASE_URL": database_url,
                "APP_ENV": "testing",
                "ISSUER": issuer,
                "INSTANCE_PATH": str(tmp_path / "live"),
                # The key authenticator secrets were sealed under when `app` set them up.
                "SECRET_KEY": app.config["SECRET_KEY"],
                "BCRYPT_ROUNDS": 4,
            }
        )
    )
    server = make_server("127.0.0.1", port, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # oauthlib (the vendor's library) insists on https except when told this is a local test.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield issuer
    server.shutdown()
    thread.join()
    server.server_close()


def approve_in_browser(browser: requests.Session, authorization_url: str, email: str) -> str:
    """A school admin signs in and approves; returns where the browser is sent back to."""
    page = browser.get(authorization_url)  # redirected to sign-in
    assert "/sign-in" in page.url
    asked = browser.post(
        page.url, data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD}
    )
    assert "/sign-in/code" in asked.url
    signed_in = browser.post(
        asked.url, data={"csrf_token": csrf_token(asked.text), "code": code_for(email)}
    )
    assert "asks for" in signed_in.text
    school = re.search(r'name="school" value="([^"]+)"', signed_in.text).group(1)
    decision = browser.post(
        signed_in.url,
        allow_redirects=False,
        data={"csrf_token": csrf_token(signed_in.text), "school": school, "approve": "1"},
    )
    assert decision.status_code == 302
    return decision.headers["Location"]


def test_a_vendor_runs_the_flow_with_requests_oauthlib(
    live_server, vendor_app, school_admin, school, resource_server
) -> None:
    application, secret = vendor_app
    metadata = requests.get(
        f"{live_server}/.well-known/oauth-authorization-server", timeout=5
    ).json()
    vendor = OAuth2Session(
        application.client_id,
        redirect_uri=REDIRECT_URI,
        scope=["StudentLite", "Attendance"],
        pkce="S256",
    )
    authorization_url, state = vendor.authorization_url(metadata["authorization_endpoint"])

    with requests.Session() as browser:
        callback = approve_in_browser(browser, authorization_url, school_admin.email)
    assert f"state={state}" in callback
    assert f"iss={requests.utils.quote(live_server, safe='')}" in callback

    token = vendor.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, client_secret=secret
    )
    assert set(token["scope"]) == {"StudentLite", "Attendance"}
    assert token["school_id"] == school.id

    refreshed = vendor.refresh_token(
        metadata["token_endpoint"], auth=(application.client_id, secret)
    )
    assert refreshed["refresh_token"] != token["refresh_token"]

    server, server_secret = resource_server
    introspection = requests.post(
        metadata["introspection_endpoint"],
        data={"token": refreshed["access_token"]},
        auth=(server.client_id, server_secret),
        timeout=5,
    ).json()
    assert introspection["active"] is True
    assert introspection["school_id"] == school.id

    revoked = requests.post(
        metadata["revocation_endpoint"],
        data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(application.client_id, secret),
        timeout=5,
    )
    assert revoked.status_code == 200
    after = requests.post(
        metadata["introspection_endpoint"],
        data={"token": refreshed["access_token"]},
        auth=(server.client_id, server_secret),
        timeout=5,
    ).json()
    assert after == {"active": False}
