"""A vendor's and a school admin's journey through the OAuth flow, as test verbs."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_PATTERN.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    raw = f"{client_id}:{client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def query_of(response: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect's Location."""
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@dataclass
class OAuthFlow:
    """Drives sign-in, authorization, decision and token exchange through the test client."""

    client: FlaskClient
    client_id: str
    client_secret: str | None
    redirect_uri: str
    verifier: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        return sign_in(self.client, email, password)

    def authorization_query(self, **overrides: Any) -> str:
        self.verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)

    def start(self, **overrides: Any) -> TestResponse:
        """The browser arrives at the authorization endpoint."""
        self.query = self.authorization_query(**overrides)
        return self.client.get(f"/oauth/authorize?{self.query}")

    def decide(
        self,
        *,
        approve: bool = True,
        optional: tuple[str, ...] = (),
        school: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> TestResponse:
        """Answer the consent page that `start` opened."""
        page = self.client.get(f"/oauth/authorize?{self.query}")
        assert page.status_code == 200, page.get_data(as_text=True)[:800]
        html = page.get_data(as_text=True)
        # As a browser would: the details of optional scopes are ticked unless the school unticks.
        shared = re.findall(r'name="shared_fields" value="([^"]+)"[^>]*checked', html)
        data: dict[str, Any] = {
            "csrf_token": csrf_token(html),
            "optional_scopes": list(optional),
            "shared_fields": shared,
        }
        if school is not None:
            data["school"] = school
        else:
            match = re.search(r'name="school" value="([^"]*)"', html)
            data["school"] = match.group(1) if match else ""
        data["approve" if approve else "deny"] = "1"
        data.update(extra or {})
        return self.client.post(f"/oauth/authorize?{self.query}", data=data)

    def code(self, **start_overrides: Any) -> str:
        """Start, approve, and return the authorization code."""
        self.start(**start_overrides)
        return query_of(self.decide())["code"]

    def exchange(self, authorization_code: str, **overrides: Any) -> TestResponse:
        data = {
            "grant_type": "authorization_code",
            "code": authorization_code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        data.update(overrides)
        return self.token_request({k: v for k, v in data.items() if v is not None})

    def token_request(self, data: dict[str, Any], **kwargs: Any) -> TestResponse:
        headers = kwargs.pop("headers", None)
        if headers is None:
            if self.client_secret:
                headers = basic_auth(self.client_id, self.client_secret)
            else:
                headers = {}
                data = {**data, "client_id": self.client_id}
        return self.client.post("/oauth/token", data=data, headers=headers, **kwargs)

    def tokens(self, **start_overrides: Any) -> dict[str, Any]:
        """The whole flow: sign-in already done; returns the token response."""
        response = self.exchange(self.code(**start_overrides))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def refresh(
        self, refresh_token: str, headers: dict[str, str] | None = None, **overrides: Any
    ) -> TestResponse:
        return self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, **overrides},
            headers=headers,
        )


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, *, next_url: str | None = None
) -> TestResponse:
    """Sign in through the form, as a person would: the password, then the code from their
    authenticator app when the server asks for it (tests/authenticator.py)."""
    from tests.authenticator import pass_second_factor

    page = client.get("/sign-in")
    response = client.post(
        "/sign-in" + (f"?next={next_url}" if next_url is not None else ""),
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": email,
            "password": password,
        },
    )
    return pass_second_factor(client, email, response)
