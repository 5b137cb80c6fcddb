"""Introspection (RFC 7662) for resource servers and applications; revocation (RFC 7009)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models.tokens import Token
from tests.oauth_flow import OAuthFlow, basic_auth

REDIRECT_URI = "https://app.example.com/callback"


def introspect(client, credentials: tuple[str, str], token: str, **data: str):
    return client.post(
        "/oauth/introspect", data={"token": token, **data}, headers=basic_auth(*credentials)
    )


def test_a_resource_server_sees_everything_about_an_active_token(
    app, client, flow, school, resource_server
) -> None:
    token = flow.tokens()
    server, secret = resource_server
    response = introspect(client, (server.client_id, secret), token["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    info = response.get_json()
    assert info["active"] is True
    assert info["scope"] == token["scope"]
    assert info["client_id"] == flow.client_id
    assert info["token_type"] == "Bearer"
    assert info["iss"] == app.config["SETTINGS"].issuer
    assert info["sub"] == f"school:{school.id}"
    assert info["school_id"] == school.id
    assert info["grant_version"] == 1
    now = time.time()
    assert info["iat"] <= now < info["exp"] <= now + 3600


def test_a_refresh_token_can_be_introspected_too(client, flow, resource_server) -> None:
    token = flow.tokens()
    server, secret = resource_server
    info = introspect(
        client, (server.client_id, secret), token["refresh_token"], token_type_hint="refresh_token"
    ).get_json()
    assert info["active"] is True
    assert info["token_type"] == "refresh_token"


def test_an_application_may_introspect_its_own_tokens_only(client, flow, make_app) -> None:
    token = flow.tokens()
    own = introspect(client, (flow.client_id, flow.client_secret), token["access_token"])
    assert own.get_json()["active"] is True
    other, other_secret = make_app(name="Nosy app")
    foreign = introspect(client, (other.client_id, other_secret), token["access_token"])
    assert foreign.status_code == 200
    assert foreign.get_json() == {"active": False}


@pytest.mark.parametrize("state", ["unknown", "expired", "revoked", "grant revoked"])
def test_anything_not_active_is_exactly_active_false(
    app, client, flow, resource_server, school_admin, state
) -> None:
    from authserver.domain import grants
    from authserver.models import User
    from authserver.models.grants import Grant

    token = flow.tokens()["access_token"]
    with app.app_context():
        if state == "unknown":
            token = "no-such-token"
        elif state == "expired":
            db.session.execute(
                update(Token).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        elif state == "revoked":
            db.session.execute(update(Token).values(revoked_at=dt.datetime.now(dt.UTC)))
        else:
            grants.revoke(
                db.session.scalar(select(Grant)), by=db.session.get(User, school_admin.id)
            )
        db.session.commit()
    server, secret = resource_server
    response = introspect(client, (server.client_id, secret), token)
    assert response.status_code == 200
    assert response.get_json() == {"active": False}


@pytest.mark.parametrize(
    ("headers", "data", "status", "error"),
    [
        pytest.param({}, {"token": "x"}, 401, "invalid_client", id="no client authentication"),
        pytest.param(
            basic_auth("rs_nobody", "secret"),
            {"token": "x"},
            401,
            "invalid_client",
            id="unknown caller",
        ),
        pytest.param(None, {}, 400, "invalid_request", id="no token"),
    ],
)
def test_introspection_errors(client, resource_server, headers, data, status, error) -> None:
    server, secret = resource_server
    response = client.post(
        "/oauth/introspect",
        data=data,
        headers=basic_auth(server.client_id, secret) if headers is None else headers,
    )
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_an_unknown_or_wrong_hint_is_ignored(client, flow, resource_server) -> None:
    token = flow.tokens()
    server, secret = resource_server
    for hint in ("id_token", "refresh_token"):
        info = introspect(
            client, (server.client_id, secret), token["access_token"], token_type_hint=hint
        )
        assert info.status_code == 200
        assert info.get_json()["active"] is True
    revoked = client.post(
        "/oauth/revoke",
        data={"token": token["access_token"], "token_type_hint": "id_token"},
        headers=basic_auth(flow.client_id, flow.client_secret),
    )
    assert revoked.status_code == 200
    assert introspect(client, (server.client_id, secret), token["access_token"]).get_json() == {
        "active": False
    }


def test_a_wrong_resource_server_secret_is_refused(client, resource_server) -> None:
    server, _ = resource_server
    response = introspect(client, (server.client_id, "guess"), "x")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


# --- Revocation ---------------------------------------------------------------------------------


def revoke(client, flow: OAuthFlow, token: str, **data: str):
    return client.post(
        "/oauth/revoke",
        data={"token": token, **data},
        headers=basic_auth(flow.client_id, flow.client_secret),
    )


def test_revoking_an_access_token(client, flow, resource_server) -> None:
    token = flow.tokens()
    response = revoke(client, flow, token["access_token"])
    assert response.status_code == 200
    server, secret = resource_server
    assert introspect(client, (server.client_id, secret), token["access_token"]).get_json() == {
        "active": False
    }


def test_revoking_a_refresh_token_takes_its_access_tokens(client, flow, resource_server) -> None:
    first = flow.tokens()
    second = flow.refresh(first["refresh_token"]).get_json()
    assert (
        revoke(client, flow, second["refresh_token"], token_type_hint="refresh_token").status_code
        == 200
    )
    server, secret = resource_server
    for access_token in (first["access_token"], second["access_token"]):
        assert introspect(client, (server.client_id, secret), access_token).get_json() == {
            "active": False
        }
    assert flow.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_not_an_error(client, flow) -> None:
    # RFC 7009 §2.2: an invalid token is answered 200; the client has nothing to do.
    assert revoke(client, flow, "no-such-token").status_code == 200


def test_an_application_cannot_revoke_another_applications_token(
    client, flow, make_app, resource_server
) -> None:
    token = flow.tokens()
    other, other_secret = make_app(name="Other")
    response = client.post(
        "/oauth/revoke",
        data={"token": token["access_token"]},
        headers=basic_auth(other.client_id, other_secret),
    )
    assert response.status_code == 400
    server, secret = resource_server
    assert (
        introspect(client, (server.client_id, secret), token["access_token"]).get_json()["active"]
        is True
    )


def test_revocation_needs_client_authentication(client, flow) -> None:
    token = flow.tokens()
    response = client.post("/oauth/revoke", data={"token": token["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_school_revoking_its_grant_stops_every_token_at_once(
    app, client, flow, resource_server, school_admin
) -> None:
    from authserver.domain import grants
    from authserver.models import User
    from authserver.models.grants import Grant

    tokens = [flow.tokens() for _ in range(2)]
    with app.app_context():
        grants.revoke(db.session.scalar(select(Grant)), by=db.session.get(User, school_admin.id))
        db.session.commit()
    server, secret = resource_server
    for token in tokens:
        for value in (token["access_token"], token["refresh_token"]):
            assert introspect(client, (server.client_id, secret), value).get_json() == {
                "active": False
            }
