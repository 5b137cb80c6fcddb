"""Consent receipts: a signed record of exactly what a school approved, for the school to keep."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import select

from authserver.domain.catalogue import default_catalogue
from authserver.domain.grants import Restrictions, visible_fields
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.grants import Grant, GrantReceipt
from authserver.signing import ALGORITHM, active_signing_key, verifying_key_set

RECEIPT_TYPE = "consent-receipt+json"


def receipt_document(grant: Grant) -> dict[str, Any]:
    """What the school approved for an application, in words a person and a program can read."""
    restrictions = Restrictions.from_json(grant.restrictions)
    catalogue = default_catalogue()
    return {
        "type": "consent-receipt",
        "issuer": current_app.config["SETTINGS"].issuer,
        "issued_at": utcnow().isoformat(),
        "school": {"urn": grant.school.urn, "name": grant.school.name},
        "application": {
            "client_id": grant.application.client_id,
            "name": grant.application.name,
            "vendor": grant.application.vendor.name,
            "privacy_policy_url": grant.accepted_privacy_policy_url,
            "terms_url": grant.accepted_terms_url,
        },
        "grant": {
            "status": str(grant.status),
            "version": grant.version,
            "approved_by": grant.approved_by.email if grant.approved_by else None,
            "approved_at": grant.approved_at.isoformat(),
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            "scopes": [
                {
                    "name": s,
                    "sensitive": catalogue[s].sensitive,
                    "description": catalogue[s].description,
                }
                for s in grant.scopes
            ],
            "fields": sorted(visible_fields(grant.scopes, restrictions)),
            "restrictions": restrictions.as_json(),
        },
    }


def signed_receipt(grant: Grant) -> dict[str, Any]:
    """The receipt together with a JWS (RS256) whose payload is exactly its JSON."""
    document = receipt_document(grant)
    return {"receipt": document, "signature": _sign(document)}


def _sign(document: dict[str, Any]) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"))
    key = active_signing_key()
    return jws.serialize_compact(
        {"alg": ALGORITHM, "kid": key.kid, "typ": RECEIPT_TYPE}, payload, key
    )


def keep(grant: Grant) -> GrantReceipt:
    """Keep the receipt of the grant's current version, once: a new version gets its own, and
    earlier ones stay as they were. Signed when first downloaded. Does not commit."""
    kept = stored(grant, grant.version)
    if kept is not None:
        return kept
    document = receipt_document(grant)
    kept = GrantReceipt(
        grant_id=grant.id,
        version=grant.version,
        issued_at=dt.datetime.fromisoformat(document["issued_at"]),
        document=document,
    )
    db.session.add(kept)
    db.session.flush()
    return kept


def signed_copy(kept: GrantReceipt) -> dict[str, Any]:
    """A kept receipt with its signature, made (and kept) the first time it is asked for;
    every later download is the same bytes. Does not commit."""
    if kept.signature is None:
        kept.signature = _sign(kept.document)
        db.session.flush()
    return {"receipt": kept.document, "signature": kept.signature}


def stored(grant: Grant, version: int) -> GrantReceipt | None:
    """The receipt kept for one version of the grant, if one was."""
    return db.session.scalar(
        select(GrantReceipt).where(
            GrantReceipt.grant_id == grant.id, GrantReceipt.version == version
        )
    )


def versions_kept(grant: Grant) -> list[GrantReceipt]:
    """Every receipt kept for the grant, newest version first."""
    return list(
        db.session.scalars(
            select(GrantReceipt)
            .where(GrantReceipt.grant_id == grant.id)
            .order_by(GrantReceipt.version.desc())
        )
    )


def versions_of(grants: Iterable[Grant]) -> dict[int, list[int]]:
    """The versions with a kept receipt, newest first, for each of `grants` by id."""
    ids = [g.id for g in grants]
    versions: dict[int, list[int]] = {grant_id: [] for grant_id in ids}
    rows = db.session.execute(
        select(GrantReceipt.grant_id, GrantReceipt.version)
        .where(GrantReceipt.grant_id.in_(ids))
        .order_by(GrantReceipt.version.desc())
    )
    for grant_id, version in rows:
        versions[grant_id].append(version)
    return versions


def verify_receipt(signed: dict[str, Any]) -> bool:
    """Whether a receipt's signature is ours and covers exactly its contents."""
    try:
        token = jws.deserialize_compact(
            signed["signature"], verifying_key_set(), algorithms=[ALGORITHM]
        )
    except (JoseError, ValueError, KeyError, TypeError):
        return False  # malformed or forged: simply not a valid receipt
    return json.loads(token.payload) == signed.get("receipt")
