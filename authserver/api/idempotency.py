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

from authserver.domain import idempotency
from authserver.extensions import db
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
        claim = idempotency.claim(
            db.session,
            application_id=token.application_id,
            school_id=token.school_id,
            key=key,
            request_fingerprint=_fingerprint(),
        )
        if claim.outcome is idempotency.Outcome.MISMATCH:
            return json_error(
                422,
                "invalid_request",
                f"This {HEADER} was used for a different request; use a new key.",
            )
        if claim.outcome is idempotency.Outcome.IN_PROGRESS:
            return json_error(
                409, "conflict", f"A request with this {HEADER} is still being handled."
            )
        if claim.outcome is idempotency.Outcome.REPLAY:
            answer = Response(
                claim.key.body or "", status=claim.key.status_code, mimetype="application/json"
            )
            answer.headers["Cache-Control"] = "no-store"
            return answer
        g.idempotency_key_id = claim.key.id
        g.idempotency_key = key
        try:
            response = view(*args, **kwargs)
        except Exception:
            idempotency.release(db.session, claim.key.id)
            raise
        if not 200 <= response.status_code < 300:
            idempotency.release(db.session, claim.key.id)
        return response

    return wrapper


def keep_answer(status_code: int, body: bytes | str) -> None:
    """Keep the write's answer with its key, if it has one, in the write's transaction."""
    key_id = g.get("idempotency_key_id")
    if key_id is not None:
        text = body.decode() if isinstance(body, bytes) else body
        idempotency.remember(db.session, key_id, status_code, text)


def key_in_use() -> str | None:
    """The request's Idempotency-Key, once claimed."""
    return g.get("idempotency_key")
