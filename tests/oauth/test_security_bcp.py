"""RFC 9700 (OAuth 2.0 Security BCP) rules that have no natural home elsewhere, each proved by
the attack it stops. docs/security.md maps every rule to its tests."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select, update

from authserver.extensions import db
from authserver.models.grants import Grant
from authserver.models.tokens import AuthorizationCode, Token
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, query_of, sign_in

REDIRECT_URI = "https://app.example.com/callback"


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# --- §4.8 PKCE downgrade ------------------------------------------------------------------------


def test_a_code_asked_for_with_a_challenge_is_useless_without_its_verifier(flow) -> None:
    code = flow.code()
    response = flow.exchange(code, code_verifier=None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert "access_token" not in response.get_json()


def test_a_request_without_a_challenge_never_yields_a_code_to_redeem(app, client, flow) -> None:
    """Our server requires PKCE, so the downgrade the other way (a verifier sent for a code that
    had no challenge) cannot arise: no path issues a code without a challenge."""
    no_pkce = {"code_challenge": None, "code_challenge_method": None}
    refused = query_of(flow.start(**no_pkce))
    assert refused["error"] == "invalid_request"
    assert "code" not in refused
    # Forcing the decision through, with a valid CSRF token, gets no code either.
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    forced = client.post(
        f"/oauth/authorize?{flow.query}", data={"csrf_token": token, "approve": "1"}
    )
    assert query_of(forced)["error"] == "invalid_request"
    assert "code" not in query_of(forced)
    # Nor does a pushed request (RFC 9126) without one.
    pushed = client.post(
        "/oauth/par",
        data={"response_type": "code", "redirect_uri": REDIRECT_URI, "state": flow.state},
        headers=basic_auth(flow.client_id, flow.client_secret),
    )
    assert pushed.status_code == 400
    assert pushed.get_json()["error"] == "invalid_request"
    assert count(app, AuthorizationCode) == 0


# --- §4.4 mix-up, §4.7 the client's CSRF defence ---------------------------------------------


def test_every_authorization_response_names_the_issuer_of_the_metadata(client, flow) -> None:
    issuer = client.get("/.well-known/oauth-authorization-server").get_json()["issuer"]
    flow.start()
    approved = query_of(flow.decide())
    flow.start()
    denied = query_of(flow.decide(approve=False))
    refused = query_of(flow.start(scope="NoSuchScope"))
    assert approved["iss"] == denied["iss"] == refused["iss"] == issuer


@pytest.mark.parametrize(
    "state", ["a b&c=d", "é/ü?#%20+", "x" * 500], ids=["reserved", "unicode", "long"]
)
def test_state_comes_back_exactly_as_sent(flow, state: str) -> None:
    flow.state = state
    flow.start()
    assert query_of(flow.decide())["state"] == state
    assert query_of(flow.start(scope="NoSuchScope"))["state"] == state


# --- §4.11.2 the authorization server as open redirector -------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"scope": "NoSuchScope"}, id="unknown scope"),
        pytest.param({"response_type": "token"}, id="implicit"),
        pytest.param({"code_challenge_method": "plain"}, id="plain PKCE"),
    ],
)
def test_an_error_after_the_redirect_uri_is_checked_goes_only_to_that_uri(flow, overrides) -> None:
    response = flow.start(**overrides)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI


def test_an_unregistered_redirect_uri_is_never_redirected_to_even_for_an_error(flow) -> None:
    response = flow.start(redirect_uri="https://evil.example.com/cb", scope="NoSuchScope")
    assert response.status_code == 400
    assert "Location" not in response.headers
    # The page may name the refused URI, but never as somewhere to go.
    html = response.get_data(as_text=True)
    assert 'href="https://evil.example.com' not in html
    assert 'action="https://evil.example.com' not in html


# --- §4.12 no 307 after a form that carries credentials ----------------------------------------


def test_no_form_post_is_answered_with_a_307(client, vendor_app, school_admin) -> None:
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    signed_in = flow.sign_in(school_admin.email)
    flow.start()
    decided = flow.decide()
    # A 307 or 308 would make the browser re-post the password or the decision to the client.
    assert signed_in.status_code in (302, 303)
    assert decided.status_code in (302, 303)


# --- CSRF on the decision (RFC 6749 §10.12) ------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["none", "forged", "another session's"], ids=["none", "forged", "foreign"]
)
def test_a_decision_without_its_sessions_csrf_token_approves_nothing(
    app, flow, make_user, school, token: str
) -> None:
    from authserver.models import Role

    flow.start()
    data = {"approve": "1", "school": school.urn}
    if token == "forged":
        data["csrf_token"] = "IjAwMDAi.ZZZZZZ.forged"
    elif token == "another session's":
        # A token the attacker got from their own session on this site.
        attacker = app.test_client()
        sign_in(attacker, make_user(Role.SCHOOL_ADMIN, school=school).email)
        data["csrf_token"] = csrf_token(attacker.get("/sign-in").get_data(as_text=True))
    response = flow.client.post(f"/oauth/authorize?{flow.query}", data=data)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert count(app, Grant) == 0
    assert count(app, AuthorizationCode) == 0


# --- §4.3.2, RFC 6750 §2.3: no token in a URL ------------------------------------------------


def test_the_authorization_response_carries_a_code_and_never_a_token(flow) -> None:
    flow.start()
    response = flow.decide()
    assert set(query_of(response)) == {"code", "state", "iss"}
    assert not urlsplit(response.headers["Location"]).fragment


def test_the_api_refuses_an_access_token_in_the_query(client, flow) -> None:
    token = flow.tokens()["access_token"]
    response = client.get("/api/v1/school?" + urlencode({"access_token": token}))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_request"
    # The same token in its proper place works: the refusal is about where it was sent.
    assert (
        client.get("/api/v1/school", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )


@pytest.mark.parametrize("endpoint", ["/oauth/introspect", "/oauth/revoke", "/oauth/par"])
def test_no_oauth_endpoint_takes_a_credential_from_the_url(
    client, flow, resource_server, endpoint: str
) -> None:
    server, server_secret = resource_server
    token = flow.tokens()["access_token"]
    if endpoint == "/oauth/introspect":
        caller = basic_auth(server.client_id, server_secret)
    else:
        caller = basic_auth(flow.client_id, flow.client_secret)
    response = client.post(
        f"{endpoint}?{urlencode({'token': token})}", data={"token": token}, headers=caller
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


# --- §2.5 client authentication ------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"client_id": "{id}"}, id="no secret"),
        pytest.param({"client_id": "{id}", "client_secret": "guess"}, id="wrong secret in body"),
        pytest.param({"client_id": "{id}", "client_secret": ""}, id="empty secret"),
    ],
)
def test_a_confidential_client_cannot_redeem_a_code_without_its_secret(
    flow, credentials: dict[str, str]
) -> None:
    code = flow.code()
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier,
        **{k: v.format(id=flow.client_id) for k, v in credentials.items()},
    }
    response = flow.token_request(body, headers={})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    # The failed attempt did not burn the code for the rightful client.
    assert flow.exchange(code).status_code == 200


# --- §2.2.2, §4.14.2 refresh tokens of public clients -----------------------------------------


def test_a_public_clients_refresh_token_rotates_and_a_replay_ends_the_family(
    client, make_app, school_admin, resource_server
) -> None:
    loopback = "http://127.0.0.1:8765/callback"
    application, _ = make_app(token_endpoint_auth_method="none", redirect_uris=[loopback])
    flow = OAuthFlow(client, application.client_id, None, loopback)
    flow.sign_in(school_admin.email)
    first = flow.tokens()
    second = flow.refresh(first["refresh_token"]).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    replay = flow.refresh(first["refresh_token"])
    assert replay.get_json()["error"] == "invalid_grant"
    assert flow.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"
    server, secret = resource_server
    introspected = client.post(
        "/oauth/introspect",
        data={"token": second["access_token"]},
        headers=basic_auth(server.client_id, secret),
    )
    assert introspected.get_json() == {"active": False}


# --- Lifetimes (RFC 6819 §5.1.5.3, RFC 9700 §4.14.2) -------------------------------------------


def test_token_lifetimes_follow_the_settings(app, flow) -> None:
    settings = app.config["SETTINGS"]
    token = flow.tokens()
    assert token["expires_in"] == settings.access_token_ttl_seconds
    with app.app_context():
        row = db.session.scalar(select(Token))
        assert (row.expires_at - row.issued_at).total_seconds() == pytest.approx(
            settings.access_token_ttl_seconds, abs=1
        )
        assert (row.refresh_expires_at - row.issued_at).total_seconds() == pytest.approx(
            settings.refresh_token_ttl_seconds, abs=1
        )


def test_a_refresh_token_past_its_lifetime_is_refused(app, flow) -> None:
    token = flow.tokens()
    with app.app_context():
        db.session.execute(
            update(Token).values(
                refresh_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
        db.session.commit()
    response = flow.refresh(token["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


# --- §4.13 reverse proxies: forwarded headers are trusted only when configured -----------------


def test_a_forged_forwarded_for_does_not_escape_the_per_address_limit(app, client) -> None:
    limit = int(app.config["SETTINGS"].sign_in_failures_per_address.split()[0])
    for n in range(limit):
        forged = {"X-Forwarded-For": f"203.0.113.{n % 250}"}
        page = client.get("/sign-in")
        response = client.post(
            "/sign-in",
            data={
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "email": f"guess{n}@example.org",
                "password": "nope",
            },
            headers=forged,
        )
        assert response.status_code == 401
    page = client.get("/sign-in")
    blocked = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": "one.more@example.org",
            "password": "nope",
        },
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert blocked.status_code == 429
