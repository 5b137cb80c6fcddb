"""MIS connectors: a school's agent beside its MIS, a client of the token endpoint only, whose
tokens can write that school's MIS data and read its writeback queue, and nothing else."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.organisations import School

#: Connectors' client ids start so: the token endpoint looks them up in their own table.
CONNECTOR_PREFIX = "mis_"


class Connector(db.Model):
    """One school's MIS connector credential: a client id and a secret (kept as a digest),
    with the previous secret still accepted for a while after a rotation."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_digest: Mapped[str] = mapped_column(String(64))
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    school: Mapped[School] = relationship()

    # Connector tokens are always opaque; generate_token reads this as it does applications'.
    access_token_format = "opaque"  # noqa: S105 (a format name)

    def __repr__(self) -> str:
        return f"<Connector {self.id} school={self.school_id}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def client_secret_matches(self, secret: str | None, now: dt.datetime | None = None) -> bool:
        """The current secret, or the previous one while its overlap lasts."""
        if not self.is_active:
            return False
        if credentials.secret_matches(secret, self.client_secret_digest):
            return True
        expires = self.previous_secret_expires_at
        return (
            self.previous_secret_digest is not None
            and expires is not None
            and (now or utcnow()) < expires
            and credentials.secret_matches(secret, self.previous_secret_digest)
        )

    # The interface Authlib's token endpoint reads: client credentials, no scopes.
    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret_matches(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in {"client_secret_basic", "client_secret_post"}

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return ""


class ConnectorToken(db.Model):
    """An access token issued to a connector, stored as a digest; valid only on /connector/v1."""

    __tablename__ = "connector_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"), index=True)
    access_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    connector: Mapped[Connector] = relationship()

    # Authlib's BearerTokenValidator reads these.
    def get_scope(self) -> str:
        return ""

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None
