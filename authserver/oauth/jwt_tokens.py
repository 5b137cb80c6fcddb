"""JWT access tokens (RFC 9068) for applications that ask for them, and their signing keys."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import or_, select

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.keys import SigningKey
from authserver.oauth.principal import SchoolPrincipal

ALGORITHM = "RS256"
# A cached signing key is re-read this often, so a rotation reaches every worker quickly.
KEY_CACHE_SECONDS = 60


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver signing keys"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def rotate_signing_key() -> SigningKey:
    """Create a new signing key and retire the current one (it keeps verifying for a while)."""
    now = utcnow()
    for key in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        key.retired_at = now
    kid = uuid.uuid4().hex
    private = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
    row = SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        encrypted_private_key=_fernet().encrypt(private.as_pem(private=True)).decode("ascii"),
        public_jwk=json.dumps(private.as_dict(private=False)),
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _active_key() -> RSAKey:
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
        # The first JWT ever asked for: make a key rather than fail (it commits with the token).
        row = rotate_signing_key()
    pem = _fernet().decrypt(row.encrypted_private_key.encode("ascii"))
    key = RSAKey.import_key(pem, parameters={"kid": row.kid, "use": "sig", "alg": ALGORITHM})
    cache["active"] = (time.monotonic() + KEY_CACHE_SECONDS, key)
    return key


def _verifying_rows() -> list[SigningKey]:
    """Keys whose tokens may still be live: unretired, or retired within a token lifetime."""
    settings = current_app.config["SETTINGS"]
    horizon = utcnow() - timedelta(seconds=settings.access_token_ttl_seconds + KEY_CACHE_SECONDS)
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > horizon))
            .order_by(SigningKey.created_at.desc())
        )
    )


def public_key_set() -> dict[str, Any]:
    """The JWKS document: every key that may verify a live token."""
    return {"keys": [json.loads(row.public_jwk) for row in _verifying_rows()]}


def encode_access_token(
    application: Application, principal: SchoolPrincipal | None, token: dict[str, Any]
) -> str:
    """A signed RFC 9068 access token carrying the same facts as the opaque one."""
    settings = current_app.config["SETTINGS"]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.issuer + "/api/v1",
        "sub": f"school:{principal.school_id}" if principal else application.client_id,
        "client_id": application.client_id,
        "iat": now,
        "exp": now + int(token["expires_in"]),
        "jti": uuid.uuid4().hex,
        "scope": token.get("scope", ""),
    }
    if principal is not None:
        claims["school_id"] = principal.school_id
        claims["grant_version"] = principal.grant_version
    key = _active_key()
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key)


def decode_access_token(value: str) -> dict[str, Any]:
    """Verify a JWT access token against our key set; raises on a bad signature."""
    keys = KeySet([RSAKey.import_key(json.loads(row.public_jwk)) for row in _verifying_rows()])
    return dict(jwt.decode(value, keys, algorithms=[ALGORITHM]).claims)
