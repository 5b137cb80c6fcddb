"""Signing keys for JWT access tokens, and receipt keys for consent receipts; private halves
stored encrypted."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class SigningKey(db.Model):
    """One RSA key pair; the newest unretired key signs, retired ones still verify a while."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    # The PEM private key, encrypted with a key derived from SECRET_KEY (Fernet).
    encrypted_private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReceiptKey(db.Model):
    """One RSA key pair that signs consent receipts: the newest unretired key signs, and every
    key that ever signed one stays published for as long as the server runs (never dropped)."""

    __tablename__ = "receipt_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    # The PEM private key, sealed like a signing key's. None for a key kept to verify only: an
    # access-token signing key that signed receipts before receipts had keys of their own.
    encrypted_private_key: Mapped[str | None] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
