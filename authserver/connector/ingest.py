"""Ingest endpoints: batches of changes, and snapshots sent in batches then committed.

Every body is JSON (`application/json`) or NDJSON (`application/x-ndjson`), optionally
gzip-compressed (`Content-Encoding: gzip`); docs/connector.md has the record format. The
views parse, call the sync domain and answer; the domain does the rest.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from flask import Response, request

from authserver import sync_runs as sync
from authserver.connector import bp
from authserver.connector.protection import current_connector, require_connector
from authserver.domain import ingest
from authserver.domain.encoding import dumps
from authserver.domain.ingest import Changes, IngestRefused
from authserver.extensions import db
from authserver.web.errors import json_error

#: What a connector may send in one request, compressed or not, and what gzip may expand to.
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_EXPANDED_BYTES = 256 * 1024 * 1024
_ID = re.compile(r"[A-Za-z0-9._:~-]{1,200}")
JSON = "application/json"
NDJSON = "application/x-ndjson"


class BadBody(Exception):
    """A body that is not what the endpoint takes: `status` and words for the developer."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def answer(status: int, body: dict[str, Any]) -> Response:
    """A JSON answer, never cached."""
    response = Response(dumps(body), status=status, mimetype=JSON)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(refused: sync.SyncRefused) -> Response:
    response = json_error(refused.status, refused.error, refused.description)
    if refused.error in ("in_progress", "sync_paused"):
        response.headers["Retry-After"] = "60" if refused.error == "sync_paused" else "5"
    return response


def _problems(refused: IngestRefused) -> Response:
    return answer(
        422,
        {
            "error": "invalid_request",
            "error_description": f"{len(refused.problems)} problem(s); nothing was accepted. "
            + refused.summary(),
            "errors": [p.as_dict() for p in refused.problems],
        },
    )


def _body() -> bytes:
    """The request body, gunzipped when it says it is compressed."""
    raw = request.get_data(cache=True)
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding != "gzip":
        raise BadBody(415, "Content-Encoding may be gzip, or nothing.")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, MAX_EXPANDED_BYTES)
    except zlib.error:
        raise BadBody(400, "The body is not valid gzip.") from None
    if inflater.unconsumed_tail:
        raise BadBody(413, "The body expands to more than 256 MB; send smaller batches.")
    if not inflater.eof:
        raise BadBody(400, "The gzip body is cut short.")
    return body


def _reader(body: bytes, batch: str) -> Callable[[], Changes]:
    """A function reading the body as Changes (JSON or NDJSON, by Content-Type)."""
    mimetype = request.mimetype
    if mimetype == JSON:

        def read() -> Changes:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise IngestRefused(
                    [ingest.Problem("json", "The body is not valid JSON.", batch=batch)]
                ) from None
            return ingest.changes_from_json(parsed, batch)

        return read
    if mimetype == NDJSON:
        return lambda: ingest.changes_from_ndjson(body.splitlines(), batch)
    raise BadBody(415, f"Send {JSON} or {NDJSON}.")


def _check_id(value: str, noun: str) -> None:
    if not _ID.fullmatch(value):
        raise BadBody(
            400, f"A {noun} id is 1 to 200 letters, digits and . _ : ~ - (no spaces or slashes)."
        )


def _handled(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the domain's refusals into their answers."""

    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except BadBody as bad:
            db.session.rollback()
            return json_error(
                bad.status,
                "invalid_request"
                if bad.status == 400
                else "unsupported_media_type"
                if bad.status == 415
                else "request_too_large",
                bad.description,
            )
        except sync.SyncRefused as refused:
            db.session.rollback()
            return _refusal(refused)
        except IngestRefused as refused:
            db.session.rollback()
            return _problems(refused)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@bp.put("/changes/<batch_id>")
@require_connector()
@_handled
def put_changes(batch_id: str) -> Response:
    """Apply a batch of changes (upserts and deletions), once per batch id."""
    _check_id(batch_id, "batch")
    connector = current_connector()
    body = _body()
    read = _reader(body, batch_id)
    result = sync.receive_changes(
        db.session, connector.school_id, batch_id, body, read, actor=connector
    )
    return answer(result.status, result.body)


@bp.put("/snapshots/<snapshot_id>")
@require_connector()
@_handled
def open_snapshot(snapshot_id: str) -> Response:
    """Open a snapshot of some entities (or find it again)."""
    _check_id(snapshot_id, "snapshot")
    connector = current_connector()
    body = request.get_json(silent=True)
    entities = body.get("entities") if isinstance(body, dict) else None
    result = sync.open_snapshot(
        db.session, connector.school_id, snapshot_id, entities, actor=connector
    )
    return answer(result.status, result.body)


@bp.get("/snapshots/<snapshot_id>")
@require_connector()
@_handled
def get_snapshot(snapshot_id: str) -> Response:
    """A snapshot's state: receiving, queued, running, succeeded or failed, with progress."""
    _check_id(snapshot_id, "snapshot")
    run = sync.find_snapshot(db.session, current_connector().school_id, snapshot_id)
    return answer(200, sync.snapshot_status(db.session, run))


@bp.put("/snapshots/<snapshot_id>/batches/<batch_id>")
@require_connector()
@_handled
def put_snapshot_batch(snapshot_id: str, batch_id: str) -> Response:
    """Send one batch of a snapshot's records (checked now, applied at commit)."""
    _check_id(snapshot_id, "snapshot")
    _check_id(batch_id, "batch")
    run = sync.find_snapshot(db.session, current_connector().school_id, snapshot_id)
    body = _body()
    result = sync.stage_batch(db.session, run, batch_id, body, _reader(body, batch_id))
    return answer(result.status, result.body)


@bp.post("/snapshots/<snapshot_id>/commit")
@require_connector()
@_handled
def commit_snapshot(snapshot_id: str) -> Response:
    """Apply the snapshot: what it does not hold is removed, behind the mass-deletion guard."""
    _check_id(snapshot_id, "snapshot")
    connector = current_connector()
    run = sync.find_snapshot(db.session, connector.school_id, snapshot_id)
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict) or set(body) - {"allow_mass_deletion"}:
        raise BadBody(400, 'Send {} or {"allow_mass_deletion": true}.')
    allow = body.get("allow_mass_deletion", False)
    if not isinstance(allow, bool):
        raise BadBody(400, "allow_mass_deletion is true or false.")
    result = sync.commit_snapshot(db.session, run, allow_mass_deletion=allow, actor=connector)
    response = answer(result.status, result.body)
    if result.status == 202:
        response.headers["Location"] = f"{bp.url_prefix}/snapshots/{snapshot_id}"
    return response
