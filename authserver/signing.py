"""Our signing keys (RS256): signing keys sign JWT access tokens and ID tokens; receipt keys,
a set of their own, sign consent receipts."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from flask import current_app
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import or_, select

from authserver.domain.credentials import seal, unseal
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.keys import ReceiptKey, SigningKey

ALGORITHM = "RS256"
# The label of the key that encrypts private keys at rest (kept from the first release).
KEY_PURPOSE = "signing keys"
RECEIPT_KEY_PURPOSE = "receipt keys"
# A cached signing key is re-read this often, so a rotation reaches every worker quickly.
KEY_CACHE_SECONDS = 60
# Retired signing keys stay published this long: far longer than any token they signed lives.
# Consent receipts, which must be checkable for years, have receipt keys that are never dropped.
PUBLISHED_AFTER_RETIREMENT = dt.timedelta(days=400)


def _seal(pem: bytes, purpose: str = KEY_PURPOSE) -> str:
    return seal(pem, secret_key=current_app.config["SECRET_KEY"], purpose=purpose)


def _unseal(sealed: str, purpose: str = KEY_PURPOSE) -> bytes:
    return unseal(sealed, secret_key=current_app.config["SECRET_KEY"], purpose=purpose)


def rotate_signing_key() -> SigningKey:
    """Create a new signing key and retire the current one (it keeps verifying)."""
    now = utcnow()
    for key in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        key.retired_at = now
    kid = uuid.uuid4().hex
    private = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
    row = SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        encrypted_private_key=_seal(private.as_pem(private=True)),
        public_jwk=json.dumps(private.as_dict(private=False)),
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    current_app.extensions.pop("signing_key_cache", None)
    return row


def active_signing_key() -> RSAKey:
    """The key that signs now; made on first use (it commits with whatever it signs)."""
    cache = current_app.extensions.setdefault("signing_key_cache", {})
    cached = cache.get("active")
    if cached and cached[0] > time.monotonic():
        return cached[1]
    row = db.session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )
    if row is None:
        row = rotate_signing_key()
    pem = _unseal(row.encrypted_private_key)
    key = RSAKey.import_key(pem, parameters={"kid": row.kid, "use": "sig", "alg": ALGORITHM})
    cache["active"] = (time.monotonic() + KEY_CACHE_SECONDS, key)
    return key


def _published_rows() -> list[SigningKey]:
    horizon = utcnow() - PUBLISHED_AFTER_RETIREMENT
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > horizon))
            .order_by(SigningKey.created_at.desc())
        )
    )


def public_key_set() -> dict[str, Any]:
    """The JWKS document: the public halves of every published key."""
    return {"keys": [json.loads(row.public_jwk) for row in _published_rows()]}


def verifying_key_set() -> KeySet:
    """The published keys, ready to verify a signature."""
    return KeySet([RSAKey.import_key(json.loads(row.public_jwk)) for row in _published_rows()])


# --- Receipt keys ------------------------------------------------------------------------------


def rotate_receipt_key() -> ReceiptKey:
    """Create a new receipt key and retire the current one: it signs no more receipts, and stays
    published for ever, so that every receipt it signed can still be checked."""
    now = utcnow()
    for key in db.session.scalars(select(ReceiptKey).where(ReceiptKey.retired_at.is_(None))):
        key.retired_at = now
    kid = "receipt-" + uuid.uuid4().hex
    private = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
    row = ReceiptKey(
        kid=kid,
        algorithm=ALGORITHM,
        encrypted_private_key=_seal(private.as_pem(private=True), RECEIPT_KEY_PURPOSE),
        public_jwk=json.dumps(private.as_dict(private=False)),
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    current_app.extensions.pop("receipt_key_cache", None)
    return row


def active_receipt_key() -> RSAKey:
    """The key that signs receipts now; made on first use (it commits with what it signs)."""
    cache = current_app.extensions.setdefault("receipt_key_cache", {})
    cached = cache.get("active")
    if cached and cached[0] > time.monotonic():
        return cached[1]
    row = db.session.scalar(
        select(ReceiptKey)
        .where(ReceiptKey.retired_at.is_(None), ReceiptKey.encrypted_private_key.is_not(None))
        .order_by(ReceiptKey.created_at.desc())
        .limit(1)
    )
    if row is None:
        row = rotate_receipt_key()
    assert row.encrypted_private_key is not None  # noqa: S101 (selected so above)
    pem = _unseal(row.encrypted_private_key, RECEIPT_KEY_PURPOSE)
    key = RSAKey.import_key(pem, parameters={"kid": row.kid, "use": "sig", "alg": ALGORITHM})
    cache["active"] = (time.monotonic() + KEY_CACHE_SECONDS, key)
    return key


def _receipt_key_rows() -> list[ReceiptKey]:
    return list(db.session.scalars(select(ReceiptKey).order_by(ReceiptKey.created_at.desc())))


def receipt_key_set() -> dict[str, Any]:
    """The receipt key set (a JWKS): the public half of every key that ever signed a receipt."""
    return {"keys": [json.loads(row.public_jwk) for row in _receipt_key_rows()]}


def receipt_verifying_key_set() -> KeySet:
    """Every receipt key, ready to verify a receipt's signature."""
    return KeySet([RSAKey.import_key(json.loads(row.public_jwk)) for row in _receipt_key_rows()])
