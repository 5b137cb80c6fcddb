"""OpenID Connect on Authlib's classes: ID tokens on the code flow, UserInfo, RP-initiated
logout and the provider's metadata. We supply keys, storage and claims; Authlib the protocol."""

from __future__ import annotations

import hashlib
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oidc import core as oidc_core
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from authlib.oidc.rpinitiated import EndSessionRequest
from authlib.oidc.rpinitiated import OpenIDProviderMetadata as LogoutMetadata
from flask import current_app, url_for
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import exists, select

from authserver import signing
from authserver.domain import sign_in, tokens
from authserver.domain.catalogue import SIGN_IN_CLAIMS, default_catalogue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.grants import Grant
from authserver.models.members import Member, MemberSession
from authserver.models.tokens import ACR_OF_METHOD, AuthorizationCode, Token
from authserver.oauth.principal import SchoolPrincipal

#: ID tokens last as long as an access token would by default: the RP checks them at once.
ID_TOKEN_TTL_SECONDS = 600


def _issuer() -> str:
    issuer: str = current_app.config["SETTINGS"].issuer
    return issuer


def session_id_claim(member_session: MemberSession) -> str:
    """The `sid` of a member's browser session: derived from its token's digest, so it names
    the session to the application without giving away our row ids or the cookie."""
    return hashlib.sha256(b"sid:" + member_session.token_digest.encode()).hexdigest()[:32]


def member_claims(
    member_id: int | None,
    application: Application,
    scope: str,
    restrictions: dict[str, Any] | None,
) -> dict[str, Any]:
    """The claims about a token's member that its scopes release (empty without a member)."""
    member = db.session.get(Member, member_id) if member_id else None
    if member is None:
        return {}
    return sign_in.claims_of(db.session(), member, application, scope.split(), restrictions)


class OpenIDCode(oidc_core.OpenIDCode):
    """ID tokens for the code flow when `openid` is asked for: RS256 with our active key."""

    DEFAULT_EXPIRES_IN = ID_TOKEN_TTL_SECONDS

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def resolve_client_private_key(self, client: Application) -> RSAKey:
        return signing.active_signing_key()

    def get_client_algorithm(self, client: Application) -> str:
        return signing.ALGORITHM

    def get_encode_header(self, client: Application) -> dict[str, str]:
        key = signing.active_signing_key()
        return {"alg": signing.ALGORITHM, "kid": str(key.kid), "typ": "JWT"}

    def get_client_claims(self, client: Application) -> dict[str, Any]:
        return {"iss": _issuer(), "aud": client.client_id}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        client_id = request.payload.client_id
        return bool(
            db.session.scalar(
                select(
                    exists().where(
                        AuthorizationCode.nonce == nonce,
                        AuthorizationCode.application_id == Application.id,
                        Application.client_id == client_id,
                    )
                )
            )
        )

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if authorization_code.member_session_id is not None:
            member_session = db.session.get(MemberSession, authorization_code.member_session_id)
            if member_session is not None:
                claims["sid"] = session_id_claim(member_session)
        return claims

    def generate_user_info(self, user: SchoolPrincipal, scope: str) -> oidc_core.UserInfo:
        grant = db.session.get(Grant, user.grant_id)
        if grant is None:  # pragma: no cover - held since the code was checked
            raise InvalidGrantError("The school has withdrawn this application's access.")
        # The principal carries the grant's restrictions as they stand now.
        claims = member_claims(user.member_id, grant.application, scope, user.restrictions)
        return oidc_core.UserInfo(claims)

    def process_token(self, grant: Any, response: Any) -> Any:
        # Only a member's sign-in has an ID token; a school admin's code never carries openid.
        user = grant.request.user
        if not isinstance(user, SchoolPrincipal) or not user.member_id:
            return response[1]
        return super().process_token(grant, response)


def still_signs_in(member_id: int, application: Application, method: str | None) -> str | None:
    """Why the member, signed in by `method`, may no longer sign in to the application (None:
    they still may): the school's decision as it stands now (the role turned off, the pupil out
    of the grant's groups, the member disabled or gone), not as it stood when the token was
    issued."""
    member = db.session.get(Member, member_id)
    if member is None:
        return "The person is no longer at the school."
    try:
        sign_in.grant_for_sign_in(db.session(), application, member, method)
    except sign_in.SignInRefused as refused:
        return refused.description
    return None


class MemberTokenValidator(BearerTokenValidator):
    """Access tokens a member's sign-in produced: active, their grant in force, their member
    still there."""

    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 4096:
            return None
        return tokens.find_by_access_token(token_string)

    def validate_token(self, token: Token | None, scopes: Any, request: Any) -> None:
        if token is None or not tokens.access_token_is_active(token):
            raise InvalidTokenError(description="The access token is not active.")
        if token.member_id is None:
            raise InvalidTokenError(description="The access token is not a sign-in's.")
        if still_signs_in(token.member_id, token.application, token.auth_method) is not None:
            raise InvalidTokenError(description="The school no longer lets this person sign in.")
        super().validate_token(token, scopes, request)


class UserInfoEndpoint(oidc_core.UserInfoEndpoint):
    """OpenID Connect Core §5.3: the claims the token's scopes release, as JSON."""

    def generate_user_info(self, user: Token, scope: str) -> oidc_core.UserInfo:
        # The narrowing as it stands now, not as it stood when the token was issued.
        restrictions = user.grant.restrictions if user.grant is not None else user.restrictions
        return oidc_core.UserInfo(
            member_claims(user.member_id, user.application, scope, restrictions)
        )

    def get_issuer(self) -> str:
        return _issuer()

    def resolve_private_key(self) -> RSAKey:
        return signing.active_signing_key()


class EndSessionEndpoint(_EndSessionEndpoint):
    """OpenID Connect RP-Initiated Logout 1.0: the hint checked against our keys, the
    post-logout redirect URI matched exactly against the application's registered list."""

    def get_server_jwks(self) -> KeySet:
        return signing.verifying_key_set()

    def get_algorithms(self) -> list[str]:
        return [signing.ALGORITHM]

    def resolve_client_from_id_token_claims(self, id_token_claims: dict) -> Any:
        if id_token_claims.get("iss") != _issuer():
            return None
        return super().resolve_client_from_id_token_claims(id_token_claims)

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        # The view ends the browser's member session itself (it owns the cookie).
        return None


#: Claims the provider's metadata lists: OpenID Connect's and ours.
CLAIMS_SUPPORTED = sorted(
    {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", *SIGN_IN_CLAIMS}
)


def provider_metadata(base: dict[str, Any]) -> dict[str, Any]:
    """The OpenID Provider's metadata (Discovery 1.0 §3): the RFC 8414 document and the OIDC
    members, checked with Authlib's validators."""
    issuer = base["issuer"]
    document = {
        **base,
        "userinfo_endpoint": issuer + url_for("oauth.userinfo"),
        "end_session_endpoint": issuer + url_for("openid.end_session"),
        "scopes_supported": [scope.name for scope in default_catalogue() if not scope.deprecated],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [signing.ALGORITHM],
        "claims_supported": CLAIMS_SUPPORTED,
        "acr_values_supported": sorted(ACR_OF_METHOD.values()),
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
    metadata = OpenIDProviderMetadata(document)
    if issuer.startswith("https://"):
        metadata.validate(metadata_classes=[LogoutMetadata])
    else:
        # Authlib insists on https; a development server (make run) is served over http.
        OpenIDProviderMetadata({**document, **_as_https(document)}).validate(
            metadata_classes=[LogoutMetadata]
        )
    return dict(metadata)


def _as_https(document: dict[str, Any]) -> dict[str, Any]:
    return {
        key: "https://" + value.removeprefix("http://")
        for key, value in document.items()
        if isinstance(value, str) and value.startswith("http://")
    }
