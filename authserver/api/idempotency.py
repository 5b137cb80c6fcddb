"""The Idempotency-Key header on the API's writes (IETF httpapi idempotency-key draft).

`idempotent` wraps a write view (inside `require_token`): a request with a key claims it for
the token's application and school; the same request again gets the first answer (status and
body) without writing again; another request with the key is 422; one while the first is still
running is 409. The view keeps its answer with the key (`keep_answer`) in its own transaction,
so the answer is kept exactly when the write is. An answer other than 2xx wrote nothing: the
key is released and may be used again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from flask import Response, g, request
from sqlalchemy.exc import IntegrityError

from authserver.domain import idempotency
from authserver.extensions import db
from authserver.models.writebacks import IdempotencyKey
from authserver.web.errors import json_error

HEADER = "Idempotency-Key"


def _key_of(raw: str) -> str | None:
    """The key: an RFC 8941 sf-string as the draft defines it (`"abc"`); a bare token is
    taken as is, as clients commonly send one."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return raw if idempotency.is_valid_key(raw) else None


def _fingerprint() -> str:
    parts = [request.method.encode(), request.path.encode(), request.query_string]
    if request.mimetype == "multipart/form-data":
        # The boundary differs on every retry: compare the parts, not the bytes.
        for name, value in sorted(request.form.items(multi=True)):
            parts += [name.encode(), value.encode()]
        for name, upload in sorted(request.files.items(multi=True), key=lambda f: f[0]):
            parts += [name.encode(), upload.stream.read()]
            upload.stream.seek(0)
    else:
        parts += [request.mimetype.encode(), request.get_data(cache=True)]
    return idempotency.fingerprint(*parts)


def idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """Honour an Idempotency-Key header on a write view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        raw = request.headers.get(HEADER)
        token = current_token._get_current_object()
        if raw is None or token is None or token.school_id is None:
            return view(*args, **kwargs)
        key = _key_of(raw)
        if key is None:
            return json_error(
                400, "invalid_request", f"{HEADER} must be 1 to 255 printable ASCII characters."
            )
        outcome, claimed = _claim(token.application_id, token.school_id, key, _fingerprint())
        if outcome is idempotency.Outcome.MISMATCH:
            return json_error(
                422,
                "invalid_request",
                f"This {HEADER} was used for a different request; use a new key.",
            )
        if outcome is idempotency.Outcome.IN_PROGRESS:
            return json_error(
                409, "conflict", f"A request with this {HEADER} is still being handled."
            )
        if outcome is idempotency.Outcome.REPLAY:
            answer = Response(
                claimed.body or "", status=claimed.status_code, mimetype="application/json"
            )
            answer.headers["Cache-Control"] = "no-store"
            return answer
        key_id = claimed.id
        g.idempotency_key_id = key_id
        g.idempotency_key = key
        try:
            response = view(*args, **kwargs)
        except Exception:
            _release(key_id)
            raise
        if not 200 <= response.status_code < 300:
            _release(key_id)
        return response

    return wrapper


def _claim(
    application_id: int, school_id: int, key: str, fingerprint: str
) -> tuple[idempotency.Outcome, IdempotencyKey]:
    """Claim the key, committed before the write starts so that other workers see it."""
    for _ in range(3):
        existing = idempotency.find(
            db.session, application_id=application_id, school_id=school_id, key=key
        )
        outcome = idempotency.outcome_for(existing, fingerprint) if existing else None
        if existing is not None and outcome is not None:
            db.session.commit()
            return outcome, existing
        claimed = idempotency.start(
            db.session,
            application_id=application_id,
            school_id=school_id,
            key=key,
            request_fingerprint=fingerprint,
            replacing=existing,
        )
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another request claimed it first: look again
            continue
        return idempotency.Outcome.CLAIMED, claimed
    raise RuntimeError("the idempotency key could not be claimed")


def _release(key_id: int) -> None:
    db.session.rollback()
    idempotency.release(db.session, key_id)
    db.session.commit()


def keep_answer(status_code: int, body: bytes | str) -> None:
    """Keep the write's answer with its key, if it has one, in the write's transaction."""
    key_id = g.get("idempotency_key_id")
    if key_id is not None:
        text = body.decode() if isinstance(body, bytes) else body
        idempotency.remember(db.session, key_id, status_code, text)


def key_in_use() -> str | None:
    """The request's Idempotency-Key, once claimed."""
    return g.get("idempotency_key")
