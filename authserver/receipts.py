"""Consent receipts: a signed record of exactly what a school decided, made at each decision.

Every version of a grant has one receipt, made and signed by a receipt key in the transaction
of the decision that began the version, and never changed after (the model refuses, and so
does PostgreSQL). A download is always the same bytes. Receipt keys are published for ever at
/.well-known/receipt-keys.json, so a receipt can be checked offline for as long as it is kept.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable
from typing import Any

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import select

from authserver.domain.audiences import audience_of
from authserver.domain.catalogue import default_catalogue
from authserver.domain.grants import Restrictions, visible_fields
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import Grant, GrantReceipt
from authserver.models.users import User
from authserver.signing import ALGORITHM, active_receipt_key, receipt_verifying_key_set

RECEIPT_TYPE = "consent-receipt+json"
# 2: made at the decision, with the decision, groups, people excluded and agreement. A receipt
# kept before (no "format") has the facts of format 1 only: it is signed as it was kept.
RECEIPT_FORMAT = 2


class Decision(enum.StrEnum):
    """What began a version of a grant."""

    # The school approved: a first approval, more scopes, or a renewal after an end.
    APPROVED = "approved"
    # The school changed the connection in place from its dashboard.
    CHANGED = "changed"
    # The application stopped asking for scopes: the school's last decision, less those.
    SCOPES_NO_LONGER_ASKED = "scopes_no_longer_asked"


def _people_excluded(grant: Grant) -> list[dict[str, Any]]:
    """The people the school left out of this application, one by one."""
    # Excluding single people (safeguarding) is another part of issue #17: until it exists no
    # one is excluded, and the list is empty rather than absent so that programs can rely on it.
    return []


def _agreement(grant: Grant) -> dict[str, Any] | None:
    """The data processing agreement the school accepted with this version (its SHA-256 and
    version), once vendors can attach one (another part of issue #17): None until then."""
    return None


def _decider(by: User | Application) -> dict[str, Any]:
    if isinstance(by, Application):
        return {"kind": "application", "client_id": by.client_id, "name": by.name}
    return {"kind": "school_admin", "email": by.email}


def receipt_document(
    grant: Grant, *, decision: Decision, by: User | Application, at: dt.datetime
) -> dict[str, Any]:
    """What the school decided for an application, in words a person and a program can read."""
    restrictions = Restrictions.from_json(grant.restrictions)
    catalogue = default_catalogue()
    audience = audience_of(grant.school_id)
    return {
        "type": "consent-receipt",
        "format": RECEIPT_FORMAT,
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
        "decision": {"kind": str(decision), "by": _decider(by), "at": at.isoformat()},
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
            # The same pupils in words: empty for the whole school.
            "groups": audience.names(restrictions.group_ids, restrictions.class_ids),
            "people_excluded": _people_excluded(grant),
        },
        "accepted": {
            "privacy_policy_url": grant.accepted_privacy_policy_url,
            "terms_url": grant.accepted_terms_url,
            "agreement": _agreement(grant),
        },
    }


def _sign(document: dict[str, Any]) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"))
    key = active_receipt_key()
    return jws.serialize_compact(
        {"alg": ALGORITHM, "kid": key.kid, "typ": RECEIPT_TYPE}, payload, key
    )


def keep(grant: Grant, *, decision: Decision, by: User | Application) -> GrantReceipt:
    """Make, sign and keep the receipt of the grant's current version, once: a new version gets
    its own, and earlier ones stay as they were. Does not commit: it is kept with the decision."""
    kept = stored(grant, grant.version)
    if kept is not None:
        return kept
    at = grant.approved_at if decision != Decision.SCOPES_NO_LONGER_ASKED else utcnow()
    document = receipt_document(grant, decision=decision, by=by, at=at)
    kept = GrantReceipt(
        grant_id=grant.id,
        version=grant.version,
        issued_at=dt.datetime.fromisoformat(document["issued_at"]),
        document=document,
        signature=_sign(document),
    )
    db.session.add(kept)
    db.session.flush()
    return kept


def download(kept: GrantReceipt) -> bytes:
    """A kept receipt as the school downloads it: {receipt, signature}, where the receipt is
    the signed payload itself, so every download is the same bytes. A receipt kept before
    receipts were signed at the decision is signed (by a receipt key) the first time. Does not
    commit."""
    if kept.signature is None:
        kept.signature = _sign(kept.document)
        db.session.flush()
    signed = {"receipt": _payload(kept.signature), "signature": kept.signature}
    return json.dumps(signed, indent=2).encode() + b"\n"


def _payload(signature: str) -> dict[str, Any]:
    token = jws.extract_compact(signature.encode())
    document: dict[str, Any] = json.loads(token.payload)
    return document


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
    """Whether a receipt's signature is by one of our receipt keys and covers exactly its
    contents."""
    try:
        token = jws.deserialize_compact(
            signed["signature"], receipt_verifying_key_set(), algorithms=[ALGORITHM]
        )
    except (JoseError, ValueError, KeyError, TypeError):
        return False  # malformed or forged: simply not a valid receipt
    return json.loads(token.payload) == signed.get("receipt")
