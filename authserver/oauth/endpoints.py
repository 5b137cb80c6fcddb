"""Introspection (RFC 7662) and revocation (RFC 7009) on Authlib's endpoint classes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import current_app

from authserver.domain import resource_servers, sign_in, tokens
from authserver.extensions import db
from authserver.models.applications import Application, ResourceServer
from authserver.models.columns import utcnow
from authserver.models.members import Member
from authserver.models.tokens import Token
from authserver.oauth import openid
from authserver.oauth.jwt_tokens import aud_claim


@dataclass(frozen=True)
class FoundToken:
    """A token row and which of its two values was presented."""

    token: Token
    kind: str  # "access_token" or "refresh_token"

    def check_client(self, client: object) -> bool:
        return self.token.check_client(client)

    def audience(self, issuer: str) -> list[str]:
        """The resources this value is for (RFC 8707): the access token's audience, or what the
        refresh token may still ask for."""
        row = self.token
        if self.kind == "access_token":
            return resource_servers.access_audience(row.audience, issuer)
        if row.refresh_audience is not None:
            return row.refresh_audience
        return resource_servers.declared_audience(row.application, issuer)


def find_token(value: str, hint: str | None) -> FoundToken | None:
    """Look a presented token up, trying the hinted kind first (RFC 7009 §2.1)."""
    if not value or len(value) > 4096:
        return None
    finders = [
        ("access_token", tokens.find_by_access_token),
        ("refresh_token", tokens.find_by_refresh_token),
    ]
    if hint == "refresh_token":
        finders.reverse()
    for kind, finder in finders:
        token = finder(value)
        if token is not None:
            return FoundToken(token, kind)
    return None


def check_token_params(request: Any) -> None:
    """Only `token` is required. An unknown token_type_hint is ignored (RFC 7009 §2.1, RFC 7662
    §2.1), where Authlib would refuse it with a 401."""
    if not request.form.get("token"):
        raise InvalidRequestError("Missing 'token'.")


def _hint(request: Any) -> str | None:
    hint = request.form.get("token_type_hint")
    return hint if hint in {"access_token", "refresh_token"} else None


def _epoch(moment: Any) -> int:
    return int(moment.timestamp())


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """A resource server may introspect the tokens meant for it (its URL in their audience, RFC
    8707); an application only its own. Any other token is simply not active to the caller."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def check_params(self, request: Any, client: object) -> None:
        check_token_params(request)

    def authenticate_token(self, request: Any, client: object) -> FoundToken | None:
        self.check_params(request, client)
        token = find_token(request.form["token"], _hint(request))
        if token and self.check_permission(token, client, request):
            return token
        return None

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: object, request: Any) -> bool:
        if isinstance(client, ResourceServer):
            return client.url in token.audience(current_app.config["SETTINGS"].issuer)
        return isinstance(client, Application) and token.check_client(client)

    def create_introspection_payload(self, token: FoundToken | None) -> dict[str, Any]:
        # RFC 7662 §2.2: anything not active is exactly {"active": false}.
        if token is None:
            return {"active": False}
        row, now = token.token, utcnow()
        expires_at: dt.datetime | None
        if token.kind == "access_token":
            active, expires_at = tokens.access_token_is_active(row, now), row.expires_at
        else:
            active, expires_at = tokens.refresh_token_is_active(row, now), row.refresh_expires_at
        if not active:
            return {"active": False}
        if row.member_id is not None and (
            openid.still_signs_in(row.member_id, row.application, row.auth_method) is not None
        ):
            # A sign-in's token lasts only while the school still lets its person sign in.
            return {"active": False}
        return self.introspect_token(token, expires_at)

    def introspect_token(self, token: FoundToken, expires_at: Any = None) -> dict[str, Any]:
        row = token.token
        issuer = current_app.config["SETTINGS"].issuer
        payload: dict[str, Any] = {
            "active": True,
            "scope": row.scope,
            "client_id": row.application.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "exp": _epoch(expires_at or row.expires_at),
            "iat": _epoch(row.issued_at),
            "iss": issuer,
            "aud": aud_claim(token.audience(issuer)),
            "sub": _subject(row),
        }
        if row.school_id is not None:
            payload["school_id"] = row.school_id
            payload["grant_version"] = row.grant_version
            payload["restrictions"] = row.restrictions
        return payload


def _subject(row: Token) -> str:
    """Whom the token is about: a sign-in's person as the application knows them (the ID
    token's pairwise `sub`), a school through its grant, or the application itself."""
    if row.member_id is not None:
        member = db.session.get(Member, row.member_id)
        if member is not None:
            return sign_in.subject_for(db.session(), member, row.application)
    return f"school:{row.school_id}" if row.school_id else row.application.client_id


class RevocationEndpoint(_RevocationEndpoint):
    """An application revokes its own tokens; a refresh token takes its access tokens with it."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def check_params(self, request: Any, client: object) -> None:
        check_token_params(request)

    def authenticate_token(self, request: Any, client: object) -> FoundToken | None:
        self.check_params(request, client)
        token = find_token(request.form["token"], _hint(request))
        if token and not token.check_client(client):
            # RFC 7009 §2.1: a token issued to another client is refused.
            raise InvalidGrantError("The token was not issued to this client.")
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        if token.kind == "refresh_token":
            tokens.revoke_family(token.token.family_id)
        elif token.token.revoked_at is None:
            token.token.revoked_at = utcnow()


def register(server: Any) -> None:
    """Register the endpoints beside the token endpoint."""
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    members_only = ResourceProtector()
    members_only.register_token_validator(openid.MemberTokenValidator())
    server.register_endpoint(openid.UserInfoEndpoint(resource_protector=members_only))
    server.register_endpoint(openid.EndSessionEndpoint)
