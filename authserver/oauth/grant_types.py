"""Our grant types on Authlib's classes: we override only storage and policy hooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, cast

from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from flask import current_app
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import contains_eager, joinedload

from authserver.config import Settings
from authserver.domain import audit, credentials, school_secrets, tokens, vendors
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import (
    SCHOOL_SECRET_GRANT_TYPE,
    Application,
)
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.members import MemberSession
from authserver.models.tokens import AuthorizationCode, Token
from authserver.oauth import openid, resource_indicators
from authserver.oauth.principal import SchoolPrincipal
from authserver.oauth.resource_indicators import InvalidTargetError, ResourceIndicators

ALL_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CONFIDENTIAL_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):
    """PKCE required of every client, S256 only (RFC 9700 §2.1.1); plain is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256).")
        # A missing method means "plain" (RFC 7636 §4.3), which we do not accept.
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


def _principal_for(
    grant: Grant,
    *,
    version: int,
    scope: str,
    user_id: int | None,
    restrictions: dict[str, Any],
    member_id: int | None = None,
    auth_method: str | None = None,
) -> SchoolPrincipal:
    return SchoolPrincipal(
        school_id=grant.school_id,
        grant_id=grant.id,
        grant_version=version,
        restrictions=restrictions,
        user_id=user_id,
        scope=scope,
        member_id=member_id,
        auth_method=auth_method,
    )


class IssuesForAudience:
    """Tokens issued for the audience (RFC 8707) the grant chose for the request."""

    request: Any
    server: Any
    GRANT_TYPE: str | None

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = self.server.generate_token(
            client=self.request.client,
            grant_type=grant_type or self.GRANT_TYPE,
            user=user,
            scope=scope,
            expires_in=expires_in,
            include_refresh_token=include_refresh_token,
            audience=self.request.audience,
        )
        return token


class AuthorizationCodeGrant(IssuesForAudience, grants.AuthorizationCodeGrant):
    """The code flow: codes single-use, short-lived, bound to everything they were issued for."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ALL_CLIENT_AUTH_METHODS
    # 48 characters from 62 symbols: about 285 bits.
    AUTHORIZATION_CODE_LENGTH = 48

    def save_authorization_code(self, code: str, request: Any) -> None:
        principal: SchoolPrincipal = request.user
        data = request.payload.data
        ttl = current_app.config["SETTINGS"].authorization_code_ttl_seconds
        member_session = (
            db.session.get(MemberSession, principal.member_session_id)
            if principal.member_session_id
            else None
        )
        db.session.add(
            AuthorizationCode(
                code_digest=credentials.digest(code),
                application_id=request.client.id,
                user_id=principal.user_id,
                member_id=principal.member_id,
                member_session_id=member_session.id if member_session else None,
                nonce=data.get("nonce") if principal.member_id else None,
                auth_time=member_session.created_at if member_session else None,
                auth_method=member_session.method if member_session else None,
                school_id=principal.school_id,
                grant_id=principal.grant_id,
                grant_version=principal.grant_version,
                redirect_uri=request.payload.redirect_uri,
                scope=principal.scope,
                audience=request.audience,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=utcnow() + timedelta(seconds=ttl),
            )
        )
        db.session.flush()

    def query_authorization_code(self, code: str, client: Application) -> AuthorizationCode | None:
        row: AuthorizationCode | None = db.session.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_digest == credentials.digest(code)
            )
        )
        if row is None or row.application_id != client.id:
            return None
        # Claim the code atomically: of concurrent redemptions exactly one updates the row.
        result = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=utcnow())
        )
        claimed = cast(CursorResult[Any], result).rowcount
        if not claimed:
            # RFC 6749 §4.1.2: a replayed code revokes every token issued from it.
            revoked = tokens.revoke_issued_from_code(row.id)
            audit.record(
                AuditAction.CODE_REPLAYED,
                actor=client,
                school=row.school_id,
                application=client,
                tokens_revoked=revoked,
            )
            return None
        if row.is_expired():
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used, so that a replay is recognised; `tokens purge` removes it later.
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> SchoolPrincipal:
        # Held until the token is stored: a narrowing cannot slip between this check and it.
        grant = school_secrets.hold_grant(authorization_code.grant_id)
        if grant is None or not grant.is_in_force():
            raise InvalidGrantError("The school has withdrawn this application's access.")
        if grant.version != authorization_code.grant_version:
            raise InvalidGrantError("The school changed its decision; ask for a new code.")
        return _principal_for(
            grant,
            version=grant.version,
            scope=authorization_code.scope,
            user_id=authorization_code.user_id,
            restrictions=grant.restrictions,
            member_id=authorization_code.member_id,
            auth_method=authorization_code.auth_method,
        )


class RefreshTokenGrant(IssuesForAudience, grants.RefreshTokenGrant):
    """Refresh with rotation: each refresh token works once; a replay revokes the family."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ALL_CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Checked before the refresh token is claimed: a refused resource must not use it up.
        token: Token = self.request.refresh_token
        declared = resource_indicators.declared(self.request.client)
        # RFC 8707 §2.2: any of what was authorised, never more; a resource server the
        # application no longer declares drops out, as scopes the school withdrew do.
        authorised = [r for r in (token.refresh_audience or declared) if r in declared]
        if not authorised:
            raise InvalidTargetError("None of the resources this was authorised for remains.")
        self.request.audience = resource_indicators.choose(self.request, authorised)
        self.request.refresh_audience = authorised

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = _refresh_token_holding_its_grant(refresh_token)
        if token is None:
            return None
        if token.refresh_used_at is not None:
            self._revoke_replayed(token)
            return None
        if not tokens.refresh_token_is_active(token):
            return None
        return token

    def _revoke_replayed(self, token: Token) -> None:
        # RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
        revoked = tokens.revoke_family(token.family_id)
        audit.record(
            AuditAction.REFRESH_REPLAYED,
            actor=token.application,
            school=token.school_id,
            application=token.application_id,
            tokens_revoked=revoked,
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token: Token = self.request.refresh_token
        result = db.session.execute(
            update(Token)
            .where(
                Token.id == token.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None)
            )
            .values(refresh_used_at=utcnow())
        )
        claimed = cast(CursorResult[Any], result).rowcount
        if not claimed:
            # Used (a replay: the family ends) or revoked since it was read (by the school or
            # RFC 7009: nothing more to end); the row read may predate either, so read it again.
            db.session.refresh(token)
            if token.refresh_used_at is None:
                raise InvalidGrantError("The refresh token has been revoked.")
            self._revoke_replayed(token)
            raise InvalidGrantError("The refresh token has already been used.")
        response: tuple[int, dict[str, Any], list[tuple[str, str]]] = (
            super().create_token_response()
        )
        return response

    def authenticate_user(self, refresh_token: Token) -> SchoolPrincipal:
        grant = db.session.get(Grant, refresh_token.grant_id) if refresh_token.grant_id else None
        if grant is None or not grant.is_in_force():
            raise InvalidGrantError("The school has withdrawn this application's access.")
        if refresh_token.member_id is not None:
            # A sign-in lasts only while the school still lets this person sign in here.
            refused = openid.still_signs_in(
                refresh_token.member_id, refresh_token.application, refresh_token.auth_method
            )
            if refused is not None:
                raise InvalidGrantError(refused)
        # Never more than the school's grant allows now, and never more than before.
        always_shared = default_catalogue().always_shared
        scopes = [s for s in refresh_token.scopes if s in grant.scopes or s in always_shared]
        return _principal_for(
            grant,
            version=refresh_token.grant_version or grant.version,
            scope=" ".join(scopes),
            user_id=refresh_token.user_id,
            restrictions=refresh_token.restrictions,
            member_id=refresh_token.member_id,
            auth_method=refresh_token.auth_method,
        )

    def issue_token(self, user: SchoolPrincipal, refresh_token: Token) -> dict[str, Any]:
        requested = self.request.payload.scope
        scope = user.scope
        if requested:
            asked = requested.split()
            if not set(asked) <= set(user.scope.split()):
                raise InvalidScopeError("A refresh cannot widen the scopes of a token.")
            scope = " ".join(dict.fromkeys(asked))
        token: dict[str, Any] = self.generate_token(
            user=user, scope=scope, include_refresh_token=True
        )
        return token

    def revoke_old_credential(self, refresh_token: Token) -> None:
        # Already marked used when it was claimed in create_token_response.
        return None


def _refresh_token_holding_its_grant(value: str) -> Token | None:
    """The refresh token with its application, and its grant share-locked as
    school_secrets.hold_grant does, in one query. The grant is read as it stands once locked (a
    narrowing then waits for the new token); the token's own row may predate a change committed
    while the lock was awaited, which the conditional claim of create_token_response catches."""
    return db.session.scalar(
        select(Token)
        .join(Token.grant)
        .where(Token.refresh_token_digest == credentials.digest(value))
        .options(
            contains_eager(Token.grant),
            joinedload(Token.application).lazyload(Application.scope_requests),
        )
        .with_for_update(read=True, of=Grant)
        .execution_options(populate_existing=True)
    )


class ClientCredentialsGrant(IssuesForAudience, grants.ClientCredentialsGrant):
    """A vendor-level token (no school, no data scopes) for the application's own management API."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL_CLIENT_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.request.payload.scope:
            raise InvalidScopeError(
                "client_credentials tokens carry no data scopes; a school's data needs its grant."
            )
        # An MIS connector's token is for the connector API alone: it declares no resources.
        self.request.audience = resource_indicators.choose(
            self.request, resource_indicators.declared(self.request.client)
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope="", include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class SchoolSecretGrant(IssuesForAudience, grants.BaseGrant, grants.TokenEndpointMixin):
    """Our extension grant (RFC 6749 §4.5): an application turns a school secret into a token
    for that school, with the scopes of the grant version the secret was claimed under."""

    GRANT_TYPE = SCHOOL_SECRET_GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL_CLIENT_AUTH_METHODS

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use school secrets.")
        form = self.request.form
        school_id, value = form.get("school_id"), form.get("school_secret")
        if not school_id or not value:
            raise InvalidRequestError("Send school_id and school_secret.")
        if not (school_id.isascii() and school_id.isdigit()) or len(school_id) > 9:
            raise InvalidRequestError("school_id must be a school's numeric id.")
        try:
            secret, grant = school_secrets.usable_secret(
                value, application=client, school_id=int(school_id)
            )
        except school_secrets.SecretRefused as refusal:
            raise InvalidGrantError(str(refusal)) from refusal
        try:
            vendors.check_may_take_tokens(client, grant.school)
        except vendors.NotVerified as refusal:
            raise UnauthorizedClientError(refusal.description) from refusal
        available = [*secret.scopes, *sorted(default_catalogue().always_shared)]
        scope = " ".join(secret.scopes)
        if self.request.payload.scope:
            asked = self.request.payload.scope.split()
            if not set(asked) <= set(available):
                raise InvalidScopeError("The school has not approved some of these scopes.")
            scope = " ".join(dict.fromkeys(asked))
        self.request.client = client
        self.request.audience = resource_indicators.choose(
            self.request, resource_indicators.declared(client)
        )
        self.request.user = SchoolPrincipal(
            school_id=secret.school_id,
            grant_id=grant.id,
            grant_version=secret.grant_version,
            restrictions=secret.restrictions,
            scope=scope,
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        principal: SchoolPrincipal = self.request.user
        token = self.generate_token(
            user=principal, scope=principal.scope, include_refresh_token=False
        )
        self.save_token(token)
        audit.record(
            AuditAction.TOKEN_ISSUED,
            actor=self.request.client,
            school=principal.school_id,
            application=self.request.client,
            grant_type="school_secret",
            grant_version=principal.grant_version,
            scope=principal.scope,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class IssuerParameter(rfc9207.IssuerParameter):
    """RFC 9207: every authorization response names its issuer, against mix-up attacks."""

    def get_issuer(self) -> str:
        settings: Settings = current_app.config["SETTINGS"]
        return settings.issuer


def register(server: Any) -> None:
    """Register every grant type this server offers (and no others: no implicit, no password)."""
    server.register_extension(IssuerParameter())
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), ResourceIndicators(), openid.OpenIDCode()],
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(SchoolSecretGrant)
