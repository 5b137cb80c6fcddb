"""Pushed authorization requests (RFC 9126), JWT access tokens (RFC 9068), metadata (RFC 8414)."""

from __future__ import annotations

import base64
import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from authserver.domain.catalogue import default_catalogue
from tests.oauth_flow import OAuthFlow, basic_auth, pkce_pair, query_of

REDIRECT_URI = "https://app.example.com/callback"


def push(client, flow: OAuthFlow, **overrides):
    flow.verifier, challenge = pkce_pair()
    data = {
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "state": flow.state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    data.update(overrides)
    return client.post(
        "/oauth/par",
        data={k: v for k, v in data.items() if v is not None},
        headers=basic_auth(flow.client_id, flow.client_secret),
    )


# --- PAR ----------------------------------------------------------------------------------------


def test_a_pushed_request_runs_the_whole_flow(client, flow) -> None:
    response = push(client, flow, scope="StudentLite Attendance")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < body["expires_in"] <= 60
    flow.query = f"client_id={flow.client_id}&request_uri={body['request_uri']}"
    params = query_of(flow.decide())
    assert params["state"] == flow.state
    token = flow.exchange(params["code"]).get_json()
    assert set(token["scope"].split()) == {"StudentLite", "Attendance"}


def test_a_request_uri_answers_one_decision_only(client, flow) -> None:
    request_uri = push(client, flow).get_json()["request_uri"]
    flow.query = f"client_id={flow.client_id}&request_uri={request_uri}"
    query_of(flow.decide())
    again = flow.client.get(f"/oauth/authorize?{flow.query}")
    assert again.status_code == 400
    assert "Location" not in again.headers


def test_a_request_uri_belongs_to_the_client_that_pushed_it(client, flow, make_app) -> None:
    request_uri = push(client, flow).get_json()["request_uri"]
    other, _ = make_app(name="Other")
    response = client.get(f"/oauth/authorize?client_id={other.client_id}&request_uri={request_uri}")
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        pytest.param(
            {"redirect_uri": "https://evil.example.com/cb"},
            400,
            "invalid_request",
            id="foreign redirect",
        ),
        pytest.param({"code_challenge_method": "plain"}, 400, "invalid_request", id="plain PKCE"),
        pytest.param({"scope": "NoSuchScope"}, 400, "invalid_scope", id="unknown scope"),
        pytest.param(
            {"request_uri": "urn:ietf:params:oauth:request_uri:x"},
            400,
            "invalid_request",
            id="nested request_uri",
        ),
    ],
)
def test_pushed_requests_are_validated_when_pushed(client, flow, overrides, status, error) -> None:
    response = push(client, flow, **overrides)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert "Location" not in response.headers


def test_pushing_needs_client_authentication(client, flow) -> None:
    response = client.post(
        "/oauth/par", data={"response_type": "code", "client_id": flow.client_id}
    )
    assert response.status_code == 401


def test_an_application_can_be_required_to_push(client, make_app, school_admin) -> None:
    application, secret = make_app(require_pushed_authorization_requests=True)
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    params = query_of(flow.start())
    assert params["error"] == "invalid_request"
    request_uri = push(client, flow).get_json()["request_uri"]
    flow.query = f"client_id={flow.client_id}&request_uri={request_uri}"
    assert "code" in query_of(flow.decide())


# --- JWT access tokens ----------------------------------------------------------------------


def test_jwt_access_tokens_verify_against_the_published_keys(
    app, client, make_app, school_admin, school, resource_server
) -> None:
    application, secret = make_app(access_token_format="jwt")
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    token = flow.tokens()
    header = json.loads(base64.urlsafe_b64decode(token["access_token"].split(".")[0] + "=="))
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    claims = jwt.decode(token["access_token"], keys, algorithms=["RS256"]).claims
    issuer = app.config["SETTINGS"].issuer
    assert claims["iss"] == issuer
    # RFC 9068 §3 / RFC 8707: without `resource`, every resource the application declared.
    assert claims["aud"] == [issuer + "/api/v1", resource_server[0].url]
    assert claims["client_id"] == application.client_id
    assert claims["sub"] == f"school:{school.id}"
    assert claims["school_id"] == school.id
    assert set(claims["scope"].split()) == set(token["scope"].split())
    assert claims["exp"] - claims["iat"] == 3600
    assert "jti" in claims
    # Introspection and revocation work for JWTs as for opaque tokens.
    assert client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(application.client_id, secret),
    ).get_json()["active"]


def test_rotating_keys_keeps_old_tokens_verifiable(
    app, client, make_app, school_admin, cli
) -> None:
    application, secret = make_app(access_token_format="jwt")
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    old = flow.tokens()["access_token"]
    result = cli.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = flow.tokens()["access_token"]
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    assert len(keys.keys) == 2
    old_kid = json.loads(base64.urlsafe_b64decode(old.split(".")[0] + "=="))["kid"]
    new_kid = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"]
    assert old_kid != new_kid
    for value in (old, new):
        jwt.decode(value, keys, algorithms=["RS256"])


def test_the_jwks_holds_no_private_key_material(client, make_app, school_admin) -> None:
    application, secret = make_app(access_token_format="jwt")
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    flow.tokens()
    for key in client.get("/oauth/jwks").get_json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# --- Metadata -----------------------------------------------------------------------------------


def test_metadata_describes_every_endpoint_and_rule(app, client) -> None:
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.get_json()
    issuer = app.config["SETTINGS"].issuer
    assert metadata["issuer"] == issuer
    for key, path in {
        "authorization_endpoint": "/oauth/authorize",
        "token_endpoint": "/oauth/token",
        "pushed_authorization_request_endpoint": "/oauth/par",
        "introspection_endpoint": "/oauth/introspect",
        "revocation_endpoint": "/oauth/revoke",
        "jwks_uri": "/oauth/jwks",
    }.items():
        assert metadata[key] == issuer + path
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["grant_types_supported"]) >= {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert "implicit" not in metadata["grant_types_supported"]
    assert "password" not in metadata["grant_types_supported"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert metadata["authorization_response_iss_parameter_supported"] is True
    catalogue = default_catalogue()
    assert set(metadata["scopes_supported"]) == {s.name for s in catalogue if not s.deprecated}
    AuthorizationServerMetadata(metadata).validate()


def test_metadata_issuer_is_the_configured_one() -> None:
    from authserver import create_app

    app = create_app(
        {
            "ISSUER": "https://auth.example.org",
            "APP_ENV": "testing",
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "x" * 32,
        }
    )
    metadata = app.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["issuer"] == "https://auth.example.org"
    assert metadata["token_endpoint"] == "https://auth.example.org/oauth/token"
