"""Refresh rotation with family revocation on reuse, and vendor-level client credentials."""

from __future__ import annotations

from sqlalchemy import select

from authserver.extensions import db
from tests.oauth_flow import basic_auth

REDIRECT_URI = "https://app.example.com/callback"


def introspect(client, resource_server, token: str) -> dict:
    server, secret = resource_server
    return client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(server.client_id, secret)
    ).get_json()


def test_refresh_rotates_both_tokens_and_keeps_binding(client, flow, resource_server) -> None:
    first = flow.tokens()
    response = flow.refresh(first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert second["school_id"] == first["school_id"]
    assert second["grant_version"] == first["grant_version"]
    assert introspect(client, resource_server, second["access_token"])["active"] is True


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client, flow, resource_server
) -> None:
    first = flow.tokens()
    second = flow.refresh(first["refresh_token"]).get_json()
    replay = flow.refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # RFC 9700 §4.14.2: the attacker's or the client's copy, we cannot tell: both die.
    assert introspect(client, resource_server, second["access_token"]) == {"active": False}
    assert flow.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_refresh_may_narrow_but_never_widen(flow) -> None:
    first = flow.tokens()
    narrowed = flow.refresh(first["refresh_token"], scope="Attendance")
    assert narrowed.get_json()["scope"] == "Attendance"
    widened = flow.refresh(narrowed.get_json()["refresh_token"], scope="Attendance StudentLite")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_scope"


def test_refresh_never_gains_scopes_the_school_approved_later(app, flow) -> None:
    first = flow.tokens()  # required scopes only
    assert "Contact" not in first["scope"]
    flow.start()
    flow.decide(optional=("Contact",))  # the school approves more: version 2
    refreshed = flow.refresh(first["refresh_token"]).get_json()
    assert "Contact" not in refreshed["scope"].split()
    assert refreshed["grant_version"] == 1


def test_refresh_after_the_school_revokes_is_refused(app, flow, school_admin) -> None:
    from authserver.domain import grants
    from authserver.models import User
    from authserver.models.grants import Grant

    token = flow.tokens()
    with app.app_context():
        grants.revoke(db.session.scalar(select(Grant)), by=db.session.get(User, school_admin.id))
        db.session.commit()
    assert flow.refresh(token["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_another_client_cannot_use_a_refresh_token(flow, make_app) -> None:
    token = flow.tokens()
    other, other_secret = make_app(name="Other")
    response = flow.refresh(
        token["refresh_token"], headers=basic_auth(other.client_id, other_secret)
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_a_refresh_token_is_not_an_access_token(client, flow, resource_server) -> None:
    token = flow.tokens()
    response = flow.refresh(token["access_token"])
    assert response.get_json()["error"] == "invalid_grant"


# --- client_credentials ------------------------------------------------------------------------


def test_client_credentials_gives_a_vendor_token_without_school_or_refresh(
    client, vendor_app, resource_server
) -> None:
    application, secret = vendor_app
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(application.client_id, secret),
    )
    assert response.status_code == 200
    token = response.get_json()
    assert "refresh_token" not in token
    assert "school_id" not in token
    assert token["scope"] == ""
    info = introspect(client, resource_server, token["access_token"])
    assert info["active"] is True
    assert info["sub"] == application.client_id
    assert "school_id" not in info


def test_client_credentials_with_client_secret_post(client, make_app) -> None:
    application, secret = make_app(token_endpoint_auth_method="client_secret_post")
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": application.client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200
    # The registered method is the only one accepted.
    basic = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(application.client_id, secret),
    )
    assert basic.status_code == 401


def test_client_credentials_carry_no_data_scopes(client, vendor_app) -> None:
    application, secret = vendor_app
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "StudentLite"},
        headers=basic_auth(application.client_id, secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_public_client_cannot_use_client_credentials(client, make_app) -> None:
    application, _ = make_app(token_endpoint_auth_method="none")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": application.client_id},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_resource_server_cannot_get_tokens(client, resource_server) -> None:
    server, secret = resource_server
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(server.client_id, secret),
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
