"""Security headers: a strict CSP whose one widening (the consent form's redirect) is safe, the
headers on every response, error pages included, and no-store unless a view chose otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from authserver import create_app
from authserver.domain.applications import RegistrationError, check_redirect_uri
from authserver.web.security_headers import content_security_policy, origin_source
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, sign_in


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
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    policy = flow.start().headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.example.com;" in policy
    assert "frame-ancestors 'none'" in policy
    assert client.get("/scopes").headers["Content-Security-Policy"].count("form-action 'self';")


# --- Headers on every response, and no-store on every one that carries a secret or personal data


@dataclass
class Site:
    """The server as its users meet it: a signed-in school admin mid-flow, a signed-in vendor
    admin, an anonymous browser, and the vendor's server holding a school token."""

    app: Flask
    admin: FlaskClient
    vendor_admin: FlaskClient
    anonymous: FlaskClient
    flow: OAuthFlow
    application: Any
    secret: str
    school: Any
    resource_server: tuple[Any, str]
    token: dict[str, Any]

    def bearer(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token["access_token"]}

    def vendor_bearer(self) -> dict[str, str]:
        response = self.anonymous.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(self.application.client_id, self.secret),
        )
        return {"Authorization": "Bearer " + response.get_json()["access_token"]}

    def rotated_secret_page(self) -> TestResponse:
        path = f"/vendor/applications/{self.application.id}/rotate-secret"
        confirm = self.vendor_admin.get(path).get_data(as_text=True)
        return self.vendor_admin.post(path, data={"csrf_token": csrf_token(confirm)})


@pytest.fixture
def site(app, client, vendor_app, school_admin, school, make_user, vendor, resource_server) -> Site:
    from authserver.models import Role

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("an unexpected failure")

    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    token = flow.tokens()
    flow.start()
    vendor_admin = app.test_client()
    sign_in(vendor_admin, make_user(Role.VENDOR_ADMIN, vendor=vendor).email)
    return Site(
        app=app,
        admin=client,
        vendor_admin=vendor_admin,
        anonymous=app.test_client(),
        flow=flow,
        application=application,
        secret=secret,
        school=school,
        resource_server=resource_server,
        token=token,
    )


def _introspect(site: Site) -> TestResponse:
    server, secret = site.resource_server
    return site.anonymous.post(
        "/oauth/introspect",
        data={"token": site.token["access_token"]},
        headers=basic_auth(server.client_id, secret),
    )


TWO_MEGABYTES = "x" * (2 * 1024 * 1024)

# Every kind of response that carries a secret or personal data: (what, kind, request).
PRIVATE_RESPONSES: list[tuple[str, str, Callable[[Site], TestResponse]]] = [
    ("sign-in page", "html", lambda s: s.anonymous.get("/sign-in")),
    ("home page, signed in", "html", lambda s: s.admin.get("/")),
    ("catalogue page, signed in", "html", lambda s: s.admin.get("/scopes")),
    ("school dashboard", "html", lambda s: s.admin.get(f"/schools/{s.school.urn}")),
    ("school history", "html", lambda s: s.admin.get(f"/schools/{s.school.urn}/history")),
    ("school exposure", "html", lambda s: s.admin.get(f"/schools/{s.school.urn}/exposure")),
    ("consent page", "html", lambda s: s.admin.get(f"/oauth/authorize?{s.flow.query}")),
    ("vendor applications", "html", lambda s: s.vendor_admin.get("/vendor")),
    ("client secret shown once", "html", lambda s: s.rotated_secret_page()),
    ("redirect to sign-in", "redirect", lambda s: s.anonymous.get(f"/schools/{s.school.urn}")),
    ("authorization response", "redirect", lambda s: s.flow.decide()),
    ("token", "json", lambda s: s.flow.refresh(s.token["refresh_token"])),
    ("token error", "json", lambda s: s.flow.refresh("not-a-refresh-token")),
    ("introspection", "json", _introspect),
    (
        "revocation",
        "json",
        lambda s: s.anonymous.post(
            "/oauth/revoke",
            data={"token": s.token["access_token"]},
            headers=basic_auth(s.application.client_id, s.secret),
        ),
    ),
    ("school's data", "json", lambda s: s.anonymous.get("/api/v1/students", headers=s.bearer())),
    ("school record", "json", lambda s: s.anonymous.get("/api/v1/school", headers=s.bearer())),
    (
        "management API",
        "json",
        lambda s: s.anonymous.get("/api/v1/connections", headers=s.vendor_bearer()),
    ),
    (
        "school secret claimed",
        "json",
        lambda s: s.anonymous.post(
            f"/api/v1/connections/{s.school.id}/secret", headers=s.vendor_bearer()
        ),
    ),
    ("API without a token", "json", lambda s: s.anonymous.get("/api/v1/students")),
    ("404 page", "html", lambda s: s.admin.get("/no-such-page")),
    ("404 JSON", "json", lambda s: s.anonymous.get("/api/v1/no/such/thing")),
    ("405 page", "html", lambda s: s.admin.put("/sign-in")),
    ("405 JSON", "json", lambda s: s.anonymous.get("/oauth/token")),
    ("413 page", "html", lambda s: s.admin.post("/sign-in", data={"email": TWO_MEGABYTES})),
    ("413 JSON", "json", lambda s: s.anonymous.post("/oauth/token", data={"x": TWO_MEGABYTES})),
    ("CSRF refusal page", "html", lambda s: s.admin.post("/sign-out")),
    ("500 page", "html", lambda s: s.admin.get("/boom")),
]


@pytest.mark.parametrize(
    ("kind", "visit"),
    [pytest.param(kind, visit, id=what) for what, kind, visit in PRIVATE_RESPONSES],
)
def test_every_response_with_a_secret_or_personal_data_is_never_stored(
    site: Site, kind: str, visit: Callable[[Site], TestResponse]
) -> None:
    response = visit(site)
    assert response.status_code < 500 or (response.status_code == 500 and kind == "html")
    expected_mimetype = {"html": "text/html", "json": "application/json"}.get(kind)
    if expected_mimetype:
        assert response.mimetype == expected_mimetype
    else:
        assert response.status_code in (302, 303)
    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response, html=kind == "html")


def assert_security_headers(response: TestResponse, *, html: bool) -> None:
    """The headers every response carries, and the ones every page carries."""
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    if html:
        policy = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy
        assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        pytest.param("/api/v1/scopes", "public, max-age=300", id="scope catalogue"),
        pytest.param("/api/v1/openapi.json", "public, max-age=300", id="OpenAPI document"),
        pytest.param("/.well-known/oauth-authorization-server", "max-age=3600", id="metadata"),
        pytest.param("/oauth/jwks", "max-age=300", id="JWKS"),
        pytest.param("/.well-known/receipt-keys.json", "max-age=300", id="receipt keys"),
        pytest.param("/static/style.css", "no-cache", id="stylesheet"),
    ],
)
def test_public_documents_keep_the_caching_their_view_chose(
    client, path: str, cache_control: str
) -> None:
    with client.get(path) as response:  # a static file is streamed: close it
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == cache_control
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_route_answers_with_the_headers(app, client, school_admin, school) -> None:
    """Whatever a signed-in person sends to any route, known or not, the answer carries them
    (new routes are covered without being listed)."""
    sign_in(client, school_admin.email)
    values = {"urn": school.urn, "resource": "students", "filename": "style.css"}
    checked = 0
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:([a-z]+):)?([a-z_]+)>", lambda m: values.get(m[2], "1"), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            with client.open(path, method=method) as response:
                assert response.status_code < 500, (method, path)
                assert "Cache-Control" in response.headers, (method, path)
                assert_security_headers(response, html=response.mimetype == "text/html")
            checked += 1
    assert checked >= 40


@pytest.fixture
def app_without_database(tmp_path):
    # A database file in a folder that does not exist: every query fails to connect.
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}",
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "security-headers",
        }
    )


@pytest.mark.parametrize("html", [True, False], ids=["page", "JSON"])
def test_a_503_carries_the_headers_too(app_without_database, html: bool) -> None:
    client = app_without_database.test_client()
    with client.session_transaction() as session:
        session["sid"] = "a-session-the-database-cannot-be-asked-about"
    if html:
        response = client.get("/schools")
    else:
        response = client.get("/api/v1/students", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response, html=html)


@pytest.mark.parametrize(
    ("app_env", "hsts"),
    [("development", False), ("testing", True), ("production", True)],
)
def test_hsts_is_sent_outside_development(tmp_path, app_env: str, hsts: bool) -> None:
    config = {"APP_ENV": app_env, "SECRET_KEY": "k" * 40, "INSTANCE_PATH": str(tmp_path)}
    if app_env == "production":
        config |= {
            "ISSUER": "https://auth.example.org",
            "DATABASE_URL": "postgresql://db.example.org/auth",
        }
    else:
        config["DATABASE_URL"] = "sqlite://"
    app = create_app(config)
    for path in ("/api/v1/scopes", "/scopes"):
        response = app.test_client().get(path)
        assert response.status_code == 200
        assert ("Strict-Transport-Security" in response.headers) is hsts
