"""The Authlib authorization server bound to our storage: clients, token issue and storage."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import Flask, Response, current_app
from flask import request as flask_request
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import lazyload
from werkzeug.datastructures import MultiDict

from authserver.domain import credentials
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import (
    RESOURCE_SERVER_PREFIX,
    Application,
    ResourceServer,
)
from authserver.models.columns import utcnow
from authserver.models.connectors import CONNECTOR_PREFIX, Connector, ConnectorToken
from authserver.models.tokens import Token
from authserver.oauth.principal import SchoolPrincipal


class ParametersPayload(OAuth2Payload):
    """OAuth parameters from exactly one place: the query, the body or a pushed request."""

    def __init__(self, data: MultiDict) -> None:
        self._data = data

    @property
    def data(self) -> MultiDict:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._data.getlist(key) for key in self._data}


class ParametersRequest(OAuth2Request):
    """An OAuth2Request whose parameters we choose, so a query string never reaches the token
    endpoint and pushed requests (RFC 9126) replace the query at the authorization endpoint."""

    # The resource identifiers (RFC 8707) the token being issued is for, and those its refresh
    # token may ask for later; the grant sets them (authserver.oauth.resource_indicators).
    audience: list[str] | None = None
    refresh_audience: list[str] | None = None

    def __init__(self, parameters: MultiDict) -> None:
        super().__init__(flask_request.method, flask_request.url, headers=flask_request.headers)
        self.payload = ParametersPayload(parameters)
        self._parameters = parameters

    @property
    def args(self) -> MultiDict:
        return self._parameters

    @property
    def form(self) -> MultiDict:
        return self._parameters


@functools.cache
def _application_by_id() -> Select[Application]:
    """The lookup of an application by client id, built once (its cache key with it) and bound
    per request."""
    # Its requested scopes are read only at the authorization endpoint.
    return (
        select(Application)
        .where(Application.client_id == bindparam("client_id"))
        .options(lazyload(Application.scope_requests))
    )


@functools.cache
def _resource_server_by_id() -> Select[ResourceServer]:
    """The lookup of a resource server by client id, built once and bound per request."""
    return select(ResourceServer).where(ResourceServer.client_id == bindparam("client_id"))


@functools.cache
def _connector_by_id() -> Select[Connector]:
    """The lookup of an MIS connector by client id, built once and bound per request."""
    return select(Connector).where(Connector.client_id == bindparam("client_id"))


class SchoolAuthorizationServer(AuthorizationServer):
    """Authlib's server with our client lookup, token format and token storage."""

    def query_client(self, client_id: str) -> Application | ResourceServer | Connector | None:
        if not client_id or len(client_id) > 64:
            return None
        if client_id.startswith(CONNECTOR_PREFIX):
            # Connectors live apart: their tokens are of another kind and never reach /api.
            connector: Connector | None = db.session.scalar(
                _connector_by_id(), {"client_id": client_id}
            )
            if connector is not None:
                return connector
        # One query on the hot path: resource servers' ids carry their prefix, so look in the
        # likelier table first (an application id may, rarely, start the same way).
        lookups: tuple[Callable[[], Select[Application] | Select[ResourceServer]], ...] = (
            _application_by_id,
            _resource_server_by_id,
        )
        if client_id.startswith(RESOURCE_SERVER_PREFIX):
            lookups = (_resource_server_by_id, _application_by_id)
        for lookup in lookups:
            found: Application | ResourceServer | None = db.session.scalar(
                lookup(), {"client_id": client_id}
            )
            if found is not None:
                return found
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        # RFC 6749 §3.2: token, introspection and revocation parameters come in the body only.
        return ParametersRequest(flask_request.form.copy())

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        response: Response = super().handle_response(status_code, payload, headers)
        if status_code != 302:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response

    def validate_requested_scope(self, scope: str | None) -> None:
        from authlib.oauth2.rfc6749 import InvalidScopeError

        if scope and not set(scope.split()) <= set(default_catalogue().scopes):
            raise InvalidScopeError("The scope names something that is not in the catalogue.")

    def generate_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
        audience: list[str] | None = None,
    ) -> dict[str, Any]:
        # Authlib's, with the audience the grant chose (RFC 8707) for the JWT's `aud`.
        return generate_token(
            grant_type, client, user, scope, expires_in, include_refresh_token, audience=audience
        )

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        save_token(token, request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def generate_token(
    grant_type: str,
    client: Application,
    user: SchoolPrincipal | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
    audience: list[str] | None = None,
) -> dict[str, Any]:
    """The token response for one issue: opaque 256-bit values (or a JWT, by application, whose
    `aud` is `audience`)."""
    settings = current_app.config["SETTINGS"]
    expires_in = expires_in or settings.access_token_ttl_seconds
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": credentials.new_secret(),
        "expires_in": expires_in,
        "scope": scope or "",
    }
    if include_refresh_token:
        token["refresh_token"] = credentials.new_secret()
    if isinstance(user, SchoolPrincipal):
        token["school_id"] = user.school_id
        token["grant_version"] = user.grant_version
    if client.access_token_format == "jwt":  # noqa: S105 (a format name)
        from authserver.oauth.jwt_tokens import encode_access_token

        token["access_token"] = encode_access_token(client, user, token, audience or [])
    return token


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Store a freshly issued token as digests, bound to its school's grant version."""
    settings = current_app.config["SETTINGS"]
    if isinstance(request.client, Connector):
        _save_connector_token(token, request.client)
        return
    principal = request.user if isinstance(request.user, SchoolPrincipal) else None
    previous: Token | None = (
        request.refresh_token if isinstance(request.refresh_token, Token) else None
    )
    code = request.authorization_code
    now = utcnow()
    row = dict(
        application_id=request.client.id,
        grant_type=request.payload.grant_type,
        school_id=principal.school_id if principal else None,
        grant_id=principal.grant_id if principal else None,
        grant_version=principal.grant_version if principal else None,
        user_id=principal.user_id if principal else None,
        member_id=principal.member_id if principal else None,
        auth_method=principal.auth_method if principal else None,
        scope=token.get("scope", ""),
        restrictions=principal.restrictions if principal else {},
        audience=getattr(request, "audience", None),
        refresh_audience=(
            getattr(request, "refresh_audience", None) if token.get("refresh_token") else None
        ),
        token_format=request.client.access_token_format,
        access_token_digest=credentials.digest(token["access_token"]),
        refresh_token_digest=(
            credentials.digest(token["refresh_token"]) if token.get("refresh_token") else None
        ),
        family_id=previous.family_id if previous else uuid.uuid4().hex,
        authorization_code_id=(
            code.id if code is not None else previous.authorization_code_id if previous else None
        ),
        issued_at=now,
        expires_at=now + timedelta(seconds=token["expires_in"]),
        refresh_expires_at=(
            now + timedelta(seconds=settings.refresh_token_ttl_seconds)
            if token.get("refresh_token")
            else None
        ),
    )
    # A plain INSERT on the session's transaction: nothing reads the row back, so the ORM's
    # unit of work (a tenth of the token endpoint's time) buys nothing here.
    db.session.connection().execute(Token.__table__.insert(), row)


def _save_connector_token(token: dict[str, Any], connector: Connector) -> None:
    """A connector's token: its own table, so it can never pass for an application's."""
    now = utcnow()
    db.session.add(
        ConnectorToken(
            connector_id=connector.id,
            access_token_digest=credentials.digest(token["access_token"]),
            issued_at=now,
            expires_at=now + timedelta(seconds=token["expires_in"]),
        )
    )
    connector.last_used_at = now


def init_server(app: Flask) -> SchoolAuthorizationServer:
    """An Authlib server for this app, with our grants and endpoints, kept in app.extensions."""
    from authserver.oauth import endpoints, grant_types

    server = SchoolAuthorizationServer()
    server.init_app(app)
    grant_types.register(server)
    endpoints.register(server)
    app.extensions["oauth_server"] = server
    return server


def oauth_server() -> SchoolAuthorizationServer:
    """The current app's authorization server."""
    server: SchoolAuthorizationServer = current_app.extensions["oauth_server"]
    return server
