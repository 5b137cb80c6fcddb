"""JWT access tokens (RFC 9068) for applications that ask for them."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import current_app
from joserfc import jwt

from authserver.models.applications import Application
from authserver.oauth.principal import SchoolPrincipal
from authserver.signing import ALGORITHM, active_signing_key


def encode_access_token(
    application: Application,
    principal: SchoolPrincipal | None,
    token: dict[str, Any],
    audience: list[str],
) -> str:
    """A signed RFC 9068 access token carrying the same facts as the opaque one, `aud` naming
    the resources it is for (RFC 8707)."""
    settings = current_app.config["SETTINGS"]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": aud_claim(audience),
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
    key = active_signing_key()
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key)


def aud_claim(audience: list[str]) -> str | list[str]:
    """An audience as RFC 7519 §4.1.3 writes it: one resource as a string, several as a list."""
    return audience[0] if len(audience) == 1 else list(audience)
