"""Vendors, their applications (OAuth clients) and the resource servers that introspect."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow

TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
ACCESS_TOKEN_FORMATS = ("opaque", "jwt")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
SCHOOL_SECRET_GRANT_TYPE = "urn:schooldata:params:oauth:grant-type:school-secret"  # noqa: S105
CONFIDENTIAL_GRANT_TYPES = frozenset({"client_credentials", SCHOOL_SECRET_GRANT_TYPE})
# Resource servers' client ids start with this, so a lookup knows which table to try first.
RESOURCE_SERVER_PREFIX = "rs_"


#: Where a vendor keeps pupils' data, as it tells schools.
DATA_LOCATIONS = ("uk", "eea", "elsewhere")


class Vendor(db.Model):
    """An ed-tech company that registers applications; verified by a platform admin before any
    of them may ask a real school for anything."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    website_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the vendor declared at sign-up, checked by a platform admin before verifying.
    # Nullable: vendors made before sign-up existed declared nothing.
    company_number: Mapped[str | None] = mapped_column(String(8))
    ico_registration_number: Mapped[str | None] = mapped_column(String(8))
    data_protection_contact_name: Mapped[str | None] = mapped_column(String(200))
    data_protection_contact_email: Mapped[str | None] = mapped_column(String(254))
    data_location: Mapped[str | None] = mapped_column(String(10))
    data_location_detail: Mapped[str | None] = mapped_column(Text)
    uses_generative_ai: Mapped[bool | None] = mapped_column(Boolean)
    generative_ai_use: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(254))
    verification_withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verification_withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    applications: Mapped[list[Application]] = relationship(
        back_populates="vendor", order_by="Application.name"
    )

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def verification_withdrawn(self) -> bool:
        """Verified once, no longer: grants made meanwhile go on, nothing new starts."""
        return self.verified_at is None and self.verification_withdrawn_at is not None


#: Which registered resource servers an application calls (the platform's API is always allowed).
application_resource_servers = Table(
    "application_resource_servers",
    db.metadata,
    Column(
        "application_id",
        ForeignKey("applications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "resource_server_id",
        # Named by hand: the conventional name is longer than PostgreSQL's 63 characters.
        ForeignKey(
            "resource_servers.id",
            ondelete="CASCADE",
            name="fk_application_resource_servers_resource_server_id",
        ),
        primary_key=True,
        index=True,
    ),
)


class Application(db.Model):
    """A vendor's application: an OAuth client that asks schools for data scopes."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 digest; None for a public client (token_endpoint_auth_method "none").
    client_secret_digest: Mapped[str | None] = mapped_column(String(64))
    client_secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Where a member may be sent back after signing out (OpenID Connect RP-Initiated Logout).
    post_logout_redirect_uris: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    website_url: Mapped[str | None] = mapped_column(String(500))
    # OpenID Connect Core §4 (third-party initiated login): where the school's launcher sends
    # a signed-in member so that the application starts its sign-in with us.
    initiate_login_uri: Mapped[str | None] = mapped_column(String(500))
    privacy_policy_url: Mapped[str] = mapped_column(String(500))
    terms_url: Mapped[str | None] = mapped_column(String(500))
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    access_token_format: Mapped[str] = mapped_column(String(10), default="opaque")
    # Where signed event notifications go; the signing secret is sealed (the server signs with it).
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="applications")
    renames: Mapped[list[ApplicationRename]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationRename.renamed_at",
    )
    scope_requests: Mapped[list[ApplicationScope]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationScope.scope",
        lazy="selectin",
    )
    resource_servers: Mapped[list[ResourceServer]] = relationship(
        secondary=application_resource_servers, order_by="ResourceServer.name"
    )

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 (a method name)

    @property
    def required_scopes(self) -> list[str]:
        return [r.scope for r in self.scope_requests if r.required]

    @property
    def optional_scopes(self) -> list[str]:
        return [r.scope for r in self.scope_requests if not r.required]

    @property
    def requested_scopes(self) -> list[str]:
        return [r.scope for r in self.scope_requests]

    def purpose_of(self, scope: str) -> str | None:
        """The vendor's stated purpose for asking for `scope`."""
        return next((r.purpose for r in self.scope_requests if r.scope == scope), None)

    def issue_client_secret(self) -> str:
        """Give the application a new client secret; returns it (shown once), keeps a digest."""
        secret = credentials.new_secret()
        self.client_secret_digest = credentials.digest(secret)
        self.client_secret_rotated_at = utcnow()
        return secret

    def client_secret_matches(self, secret: str | None) -> bool:
        return credentials.secret_matches(secret, self.client_secret_digest)

    # The client interface Authlib's grants and endpoints call (authlib ClientMixin).
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # With several registered URIs the request must name one (OAuth 2.1 §2.3.1).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes if all were registered by this application, else None."""
        # Imported here: the catalogue validates itself against the MIS models at load.
        from authserver.domain.catalogue import default_catalogue

        registered = self.requested_scopes
        if not scope:
            return " ".join(registered)
        asked = scope.split()
        allowed = set(registered) | default_catalogue().always_shared
        if not set(asked) <= allowed:
            return None
        return " ".join(dict.fromkeys(asked))

    @property
    def client_metadata(self) -> dict[str, Any]:
        """The registered metadata Authlib's OpenID Connect endpoints read."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris or [])}

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.1: exact string comparison, no patterns or prefixes.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret_matches(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type in {"authorization_code", "refresh_token"}:
            return True
        # Grants with no user present need a client that can keep a secret.
        return not self.is_public and grant_type in CONFIDENTIAL_GRANT_TYPES


class ApplicationScope(db.Model):
    """One scope an application asks schools for: required or optional, with its purpose."""

    __tablename__ = "application_scopes"
    __table_args__ = (UniqueConstraint("application_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(64))
    required: Mapped[bool] = mapped_column(Boolean)
    purpose: Mapped[str] = mapped_column(Text)

    application: Mapped[Application] = relationship(back_populates="scope_requests")


class ApplicationRename(db.Model):
    """One change of an application's name, kept so that schools that approved it under the
    old name are told."""

    __tablename__ = "application_renames"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    previous_name: Mapped[str] = mapped_column(String(200))
    new_name: Mapped[str] = mapped_column(String(200))
    renamed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="renames")


class ResourceServer(db.Model):
    """A registered API, named by its resource identifier (RFC 8707), that introspects tokens
    (RFC 7662) before serving data; tokens meant for it carry its URL in their audience."""

    __tablename__ = "resource_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Its resource identifier: the `resource` value clients send and the tokens' `aud`.
    url: Mapped[str] = mapped_column(String(500), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_digest: Mapped[str] = mapped_column(String(64))
    # After a rotation the previous secret still works until then (None: it ended at once).
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def issue_client_secret(self) -> str:
        """Give the resource server a new secret; returns it (shown once), keeps a digest."""
        secret = credentials.new_secret()
        self.client_secret_digest = credentials.digest(secret)
        return secret

    def client_secret_matches(self, secret: str | None, now: dt.datetime | None = None) -> bool:
        """The current secret, or the previous one while its overlap lasts."""
        if credentials.secret_matches(secret, self.client_secret_digest):
            return True
        expires = self.previous_secret_expires_at
        return (
            expires is not None
            and (now or utcnow()) < expires
            and credentials.secret_matches(secret, self.previous_secret_digest)
        )

    # A resource server is a client of the introspection endpoint only.
    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret_matches(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "introspection" and method in {
            "client_secret_basic",
            "client_secret_post",
        }

    def check_grant_type(self, grant_type: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> None:
        return None
