"""Security headers: a strict CSP whose one widening (the consent form's redirect) is safe."""

from __future__ import annotations

import pytest

from authserver.applications import RegistrationError, check_redirect_uri
from authserver.security_headers import content_security_policy, origin_source


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("https://app.example.com/callback?x=1", ("https://app.example.com",)),
        ("http://127.0.0.1:8701/callback", ("http://127.0.0.1:8701",)),
        ("https://[::1]:8443/cb", ("https://[::1]:8443",)),
        ("https://app.example.com;script-src *", ()),
        ("https://evil.example.com/cb; script-src 'unsafe-inline'", ("https://evil.example.com",)),
        ("javascript:alert(1)", ()),
        ("https://user:pw@app.example.com/cb", ("https://app.example.com",)),
    ],
)
def test_only_a_plain_origin_reaches_the_policy(uri: str, source: tuple[str, ...]) -> None:
    assert origin_source(uri) == source
    policy = content_security_policy(origin_source(uri))
    assert policy.count(";") == content_security_policy().count(";")
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    "uri",
    [
        "https://user:pw@app.example.com/cb",
        "https://app.example.com/cb;x",
        "https://app.example.com/c b",
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",
        "ftp://app.example.com/cb",
        "/relative",
    ],
)
def test_unsafe_redirect_uris_cannot_be_registered(uri: str) -> None:
    with pytest.raises(RegistrationError):
        check_redirect_uri(uri)


def test_the_consent_page_lets_its_form_reach_only_the_clients_origin(
    client, vendor_app, school_admin
) -> None:
    from tests.oauth_flow import OAuthFlow

    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    policy = flow.start().headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.example.com;" in policy
    assert "frame-ancestors 'none'" in policy
    assert client.get("/scopes").headers["Content-Security-Policy"].count("form-action 'self';")
