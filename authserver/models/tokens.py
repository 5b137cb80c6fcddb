"""Authorization codes, tokens and pushed authorization requests, all stored as digests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.grants import Grant


class AuthorizationCode(db.Model):
    """A single-use code bound to client, redirect URI, user, school, scopes and PKCE."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # The school admin who decided, or (signing in with OpenID Connect) the member signing in.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    # The member's browser session (OpenID Connect `sid`, `auth_time`, `amr`) and `nonce`.
    member_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("member_sessions.id", ondelete="SET NULL")
    )
    nonce: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    auth_method: Mapped[str | None] = mapped_column(String(20))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    grant_version: Mapped[int] = mapped_column(Integer)
    redirect_uri: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    # The resource identifiers (RFC 8707) this authorisation is for.
    audience: Mapped[list[str] | None] = mapped_column(JSON)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    grant: Mapped[Grant] = relationship()

    # The interface Authlib's AuthorizationCodeGrant and CodeChallenge read.
    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    # And the OpenID Connect additions (authlib.oidc.core.AuthorizationCodeMixin).
    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return int(self.auth_time.timestamp()) if self.auth_time else None

    def get_acr(self) -> str | None:
        return ACR_OF_METHOD.get(self.auth_method or "")

    def get_amr(self) -> list[str] | None:
        if not self.auth_method:
            return None
        return AMR_OF_METHOD.get(self.auth_method, [self.auth_method])


#: The `acr` of each way a member proves who they are: a password, a badge (QR code), an
#: emailed link, or a school admin's account with its second factor.
ACR_OF_METHOD = {
    "pwd": "urn:schooldata:acr:password",
    "qr": "urn:schooldata:acr:badge",
    "email": "urn:schooldata:acr:emailed-link",
    "mfa": "urn:schooldata:acr:second-factor",
}
#: RFC 8176 `amr` values where a method is more than one: a password and a one-time code.
AMR_OF_METHOD = {"mfa": ["pwd", "otp", "mfa"]}


class Token(db.Model):
    """An access token and its (rotating) refresh token, bound to a school's grant version."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_grant_id_revoked_at", "grant_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    grant_type: Mapped[str] = mapped_column(String(100))
    # None for a vendor-level (client_credentials) token.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    grant_version: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The member who signed in (OpenID Connect), whom UserInfo describes, and how they proved
    # who they are (a school admin's sign-in lasts only with their second factor behind it).
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    auth_method: Mapped[str | None] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(Text, default="")
    # Restrictions copied from the grant when issued: enforcement needs no extra query.
    restrictions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Resource identifiers (RFC 8707) the access token is for, and those its refresh token may
    # still ask for (what was authorised). None on tokens issued before audiences existed.
    audience: Mapped[list[str] | None] = mapped_column(JSON)
    refresh_audience: Mapped[list[str] | None] = mapped_column(JSON)
    token_format: Mapped[str] = mapped_column(String(10), default="opaque")
    access_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Every token rotated from one authorization shares a family; replay revokes it whole.
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True
    )
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refresh_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    grant: Mapped[Grant | None] = relationship()

    @property
    def scopes(self) -> list[str]:
        return self.scope.split() if self.scope else []

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    # The interface Authlib's refresh grant and endpoints read.
    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: object) -> bool:
        return isinstance(client, Application) and client.id == self.application_id

    def get_client(self) -> Application:
        return self.application

    def get_user(self) -> Token:
        # UserInfo describes the token's member; the token itself carries what it needs.
        return self

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_active(self, now: dt.datetime | None = None) -> bool:
        """Whether the access token may be used now (its grant is checked by the caller)."""
        return self.revoked_at is None and (now or utcnow()) < self.expires_at


class PushedAuthorizationRequest(db.Model):
    """An authorization request pushed by a client (RFC 9126), referenced by request_uri."""

    __tablename__ = "pushed_authorization_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_uri_digest: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # A repeatable parameter (RFC 8707 `resource`) keeps its values as a list.
    parameters: Mapped[dict[str, str | list[str]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
