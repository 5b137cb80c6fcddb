"""The writeback queue as the school's MIS agent sees it: pull what vendors wrote, oldest
first, and acknowledge each item as applied (with the MIS's key for the record) or rejected
(with the MIS's reason). Only the connector's own school's queue exists for it."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from authserver.connector import bp
from authserver.connector.ingest import answer
from authserver.connector.protection import current_connector, require_connector
from authserver.domain import writeback_queue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.writebacks import WritebackItem, WritebackState
from authserver.web.errors import json_error

DEFAULT_LIMIT = 100
MAX_REASON = 1000
MAX_MIS_ID = 64


def _cursors() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="connector writebacks")


def item_document(item: WritebackItem) -> dict[str, Any]:
    """An item as the agent applies it: what to do to which record, with the MIS's keys."""
    mis_id, references = writeback_queue.mis_keys(db.session, item)
    application = db.session.get(Application, item.writeback.application_id)
    return {
        "id": item.id,
        "writeback_id": item.writeback_id,
        "created_at": item.created_at,
        "application": {"client_id": application.client_id, "name": application.name},
        "op": item.op,
        "entity": item.entity,
        "record_id": item.record_id,
        "mis_id": mis_id,
        "values": item.values,
        "references": references,
        "state": item.state,
        "reason": item.reason,
        "settled_at": item.settled_at,
    }


@bp.get("/writebacks")
@require_connector()
def writebacks() -> Response:
    """The school's queued items, oldest first: `limit` (1 to 500) and the `next` cursor."""
    connector = current_connector()
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isdigit() and len(raw_limit) <= 4) or not (
        1 <= int(raw_limit) <= writeback_queue.MAX_PAGE
    ):
        return json_error(
            400, "invalid_request", f"limit must be between 1 and {writeback_queue.MAX_PAGE}."
        )
    after = 0
    if request.args.get("cursor"):
        try:
            position = _cursors().loads(request.args["cursor"])
        except BadSignature:
            position = None
        if not isinstance(position, dict) or not isinstance(position.get("after"), int):
            return json_error(400, "invalid_request", "That cursor is not one we gave out.")
        after = position["after"]
    limit = int(raw_limit)
    items = writeback_queue.pull(db.session, connector.school_id, after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    cursor = _cursors().dumps({"after": items[-1].id}) if more else None
    return answer(200, {"data": [item_document(i) for i in items], "next": cursor})


@bp.post("/writebacks/<int:item_id>/acknowledgement")
@require_connector()
def acknowledge(item_id: int) -> Response:
    """Report an item: `{"state": "applied", "mis_id": ...}` or `{"state": "rejected",
    "reason": ...}`. Saying the same again is harmless; saying the other is 409."""
    connector = current_connector()
    item = writeback_queue.queued_item(db.session, connector.school_id, item_id)
    if item is None:
        return json_error(404, "not_found", "No such item in this school's queue.")
    body = request.get_json(silent=True)
    problem = _problem_with(body)
    if problem:
        return json_error(422, "invalid_request", problem)
    try:
        writeback_queue.settle(
            db.session,
            item,
            WritebackState(body["state"]),
            by=f"connector {connector.client_id}",
            reason=body.get("reason"),
            mis_id=body.get("mis_id"),
        )
    except writeback_queue.AlreadySettled:
        db.session.rollback()
        return json_error(409, "conflict", f"The item was {item.state} already.")
    except Exception:
        db.session.rollback()
        raise
    document = item_document(item)
    db.session.commit()
    return answer(200, document)


def _problem_with(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("state") not in ("applied", "rejected"):
        return 'Send JSON: {"state": "applied" or "rejected", ...}.'
    if set(body) - {"state", "mis_id", "reason"}:
        return "Only state, mis_id and reason may be sent."
    if body["state"] == "rejected":
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            return f"A rejection needs a reason (1 to {MAX_REASON} characters) for the vendor."
        if body.get("mis_id") is not None:
            return "A rejected item has no MIS key."
    else:
        if body.get("reason") is not None:
            return "An applied item has no reason."
        mis_id = body.get("mis_id")
        if mis_id is not None and (
            not isinstance(mis_id, str) or not 0 < len(mis_id) <= MAX_MIS_ID
        ):
            return f"mis_id must be the MIS's key, 1 to {MAX_MIS_ID} characters."
    return None
