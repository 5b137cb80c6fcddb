"""Resource indicators (RFC 8707): tokens name their audience, chosen at authorize, PAR and the
token endpoint; introspection and /api/v1 answer only for tokens meant for them."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authserver.extensions import db
from authserver.models import Token
from tests.oauth_flow import OAuthFlow, basic_auth, query_of

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def platform_api(app) -> str:
    return app.config["SETTINGS"].issuer + "/api/v1"


@pytest.fixture
def homework(make_resource_server):
    """A second resource server, which the test's application declares too."""
    return make_resource_server(name="Homework API", url="https://homework.example.net/api")


@pytest.fixture
def stranger(app, make_resource_server):
    """A registered resource server no application of the test declares (`make_app` declares
    every registered one: it is taken off them, whichever was registered first)."""
    from authserver.models import Application

    server, secret = make_resource_server(
        name="Stranger API", url="https://stranger.example.net/api"
    )
    with app.app_context():
        for application in db.session.scalars(db.select(Application)):
            application.resource_servers = [
                s for s in application.resource_servers if s.id != server.id
            ]
        db.session.commit()
    return server, secret


@pytest.fixture
def signed_in_flow(client, make_app, school_admin, resource_server, homework):
    """A code flow of an application that calls `resource_server` and `homework`."""
    application, secret = make_app()
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return flow


def introspect(client, server, token: str) -> dict:
    rs, secret = server
    response = client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(rs.client_id, secret)
    )
    assert response.status_code == 200
    return response.get_json()


def stored_audience(app, access_token: str) -> tuple[list[str] | None, list[str] | None]:
    from authserver.domain.credentials import digest

    with app.app_context():
        row = db.session.scalar(
            db.select(Token).where(Token.access_token_digest == digest(access_token))
        )
        return row.audience, row.refresh_audience


# --- Without `resource`: everything declared -------------------------------------------------


def test_without_resource_a_token_is_for_every_declared_resource_server(
    app, client, signed_in_flow, resource_server, homework, platform_api
) -> None:
    token = signed_in_flow.tokens()
    audience, _ = stored_audience(app, token["access_token"])
    # The platform's API first, then the declared resource servers by name.
    assert audience == [platform_api, homework[0].url, resource_server[0].url]
    info = introspect(client, resource_server, token["access_token"])
    assert info["active"] is True
    assert info["aud"] == audience
    assert introspect(client, homework, token["access_token"])["active"] is True


def test_a_resource_server_not_in_the_audience_learns_nothing(
    client, signed_in_flow, stranger
) -> None:
    token = signed_in_flow.tokens()
    assert introspect(client, stranger, token["access_token"]) == {"active": False}
    assert introspect(client, stranger, token["refresh_token"]) == {"active": False}


# --- `resource` at the authorization endpoint and PAR ------------------------------------------


def test_resource_at_authorize_narrows_the_audience(
    app, client, signed_in_flow, resource_server, homework
) -> None:
    token = signed_in_flow.tokens(resource=homework[0].url)
    assert stored_audience(app, token["access_token"]) == ([homework[0].url], [homework[0].url])
    assert introspect(client, homework, token["access_token"])["aud"] == homework[0].url
    assert introspect(client, resource_server, token["access_token"]) == {"active": False}


def test_several_resources_at_authorize(
    app, signed_in_flow, resource_server, homework, platform_api
) -> None:
    token = signed_in_flow.tokens(resource=[platform_api, homework[0].url])
    assert stored_audience(app, token["access_token"])[0] == [platform_api, homework[0].url]


@pytest.mark.parametrize(
    "resource",
    [
        "https://stranger.example.net/api",  # registered, not declared
        "https://nobody.example.net/api",  # not registered at all
        "relative/path",  # not an absolute URI
        "https://homework.example.net/api#part",  # a fragment
    ],
)
def test_an_undeclared_or_malformed_resource_at_authorize_is_invalid_target(
    signed_in_flow, stranger, resource
) -> None:
    response = signed_in_flow.start(resource=resource)
    # The redirect URI is known good: the error goes back to the client (RFC 8707 §2).
    params = query_of(response)
    assert params["error"] == "invalid_target"
    assert params["state"] == signed_in_flow.state
    assert "code" not in params


def test_resource_in_a_pushed_request(client, app, signed_in_flow, homework, platform_api) -> None:
    from tests.oauth.test_par_jwt_and_metadata import push

    pushed = push(client, signed_in_flow, resource=[platform_api, homework[0].url])
    assert pushed.status_code == 201, pushed.get_json()
    signed_in_flow.query = (
        f"client_id={signed_in_flow.client_id}&request_uri={pushed.get_json()['request_uri']}"
    )
    token = signed_in_flow.exchange(query_of(signed_in_flow.decide())["code"]).get_json()
    assert stored_audience(app, token["access_token"])[0] == [platform_api, homework[0].url]


def test_an_undeclared_resource_in_a_pushed_request_is_invalid_target(
    client, signed_in_flow, stranger
) -> None:
    from tests.oauth.test_par_jwt_and_metadata import push

    response = push(client, signed_in_flow, resource=stranger[0].url)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_target"


# --- `resource` at the token endpoint ------------------------------------------------------------


def test_the_code_exchange_may_narrow_but_not_widen(
    app, signed_in_flow, resource_server, homework
) -> None:
    code = signed_in_flow.code(resource=[resource_server[0].url, homework[0].url])
    widened = signed_in_flow.exchange(code, resource="https://app.example.com/api")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_target"

    code = signed_in_flow.code(resource=[resource_server[0].url, homework[0].url])
    narrowed = signed_in_flow.exchange(code, resource=homework[0].url)
    assert narrowed.status_code == 200, narrowed.get_json()
    audience, refresh_audience = stored_audience(app, narrowed.get_json()["access_token"])
    assert audience == [homework[0].url]
    # The refresh token keeps what was authorised (RFC 8707 §2.2).
    assert refresh_audience == [resource_server[0].url, homework[0].url]


def test_a_refresh_narrows_to_any_authorised_resource_and_never_widens(
    app, client, signed_in_flow, resource_server, homework, platform_api
) -> None:
    first = signed_in_flow.tokens(resource=[resource_server[0].url, homework[0].url])

    widened = signed_in_flow.refresh(first["refresh_token"], resource=platform_api)
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_target"

    # The refused request did not use the refresh token up.
    narrowed = signed_in_flow.refresh(first["refresh_token"], resource=homework[0].url)
    assert narrowed.status_code == 200, narrowed.get_json()
    second = narrowed.get_json()
    assert stored_audience(app, second["access_token"])[0] == [homework[0].url]
    assert introspect(client, resource_server, second["access_token"]) == {"active": False}

    # Narrowed once, the next refresh may still ask for the other authorised resource.
    third = signed_in_flow.refresh(second["refresh_token"], resource=resource_server[0].url)
    assert third.status_code == 200, third.get_json()
    assert stored_audience(app, third.get_json()["access_token"])[0] == [resource_server[0].url]

    # And without `resource`, everything authorised.
    fourth = signed_in_flow.refresh(third.get_json()["refresh_token"]).get_json()
    assert stored_audience(app, fourth["access_token"])[0] == [
        resource_server[0].url,
        homework[0].url,
    ]


def test_a_resource_the_application_stopped_declaring_drops_out_at_refresh(
    app, signed_in_flow, resource_server, homework
) -> None:
    from authserver.models import Application

    first = signed_in_flow.tokens()
    with app.app_context():
        application = db.session.scalar(
            db.select(Application).where(Application.client_id == signed_in_flow.client_id)
        )
        application.resource_servers = [
            s for s in application.resource_servers if s.id != homework[0].id
        ]
        db.session.commit()
    refused = signed_in_flow.refresh(first["refresh_token"], resource=homework[0].url)
    assert refused.get_json()["error"] == "invalid_target"
    second = signed_in_flow.refresh(first["refresh_token"]).get_json()
    assert homework[0].url not in stored_audience(app, second["access_token"])[0]


def test_client_credentials_honour_resource(
    app, client, vendor_app, resource_server, stranger, platform_api
) -> None:
    application, secret = vendor_app
    headers = basic_auth(application.client_id, secret)
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": resource_server[0].url},
        headers=headers,
    ).get_json()
    assert stored_audience(app, token["access_token"])[0] == [resource_server[0].url]
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": stranger[0].url},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_target"


# --- JWT `aud` and the platform's API ---------------------------------------------------------


def test_a_jwt_names_its_audience(client, make_app, school_admin, homework) -> None:
    application, secret = make_app(access_token_format="jwt")
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    token = flow.tokens(resource=homework[0].url)
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    claims = jwt.decode(token["access_token"], keys, algorithms=["RS256"]).claims
    assert claims["aud"] == homework[0].url


def test_the_platform_api_refuses_a_token_meant_for_another_resource_server(
    client, signed_in_flow, homework, platform_api
) -> None:
    elsewhere = signed_in_flow.tokens(resource=homework[0].url)
    response = client.get(
        "/api/v1/school", headers={"Authorization": f"Bearer {elsewhere['access_token']}"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    here = signed_in_flow.tokens(resource=platform_api)
    response = client.get(
        "/api/v1/school", headers={"Authorization": f"Bearer {here['access_token']}"}
    )
    assert response.status_code == 200


def test_an_application_introspecting_its_own_token_sees_its_audience(
    client, signed_in_flow, homework
) -> None:
    token = signed_in_flow.tokens(resource=homework[0].url)
    info = client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(signed_in_flow.client_id, signed_in_flow.client_secret),
    ).get_json()
    assert info["active"] is True
    assert info["aud"] == homework[0].url


def test_the_protected_resource_metadata_names_the_platform_api(client, platform_api) -> None:
    metadata = client.get("/.well-known/oauth-protected-resource/api/v1").get_json()
    assert metadata["resource"] == platform_api
    issuer = platform_api.removesuffix("/api/v1")
    assert metadata["authorization_servers"] == [issuer]
    assert metadata["bearer_methods_supported"] == ["header"]
