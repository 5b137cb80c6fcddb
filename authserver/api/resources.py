"""The school's data: every MIS entity as a resource, served exactly as far as the grant allows.

One place does the enforcement for every endpoint and include: the token's Disclosure picks
the fields (from the catalogue) and `rows_visible` the rows (school, pupils, row rules).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

import orjson
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2 import OAuth2Error
from flask import Response, abort, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, and_, or_, select

from authserver.api import bp
from authserver.api.protection import insufficient_scope, invalid_token, require_token
from authserver.domain import audit
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.domain.disclosure import Disclosure, disclosure_for, rows_visible
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.mis import ENTITIES
from authserver.models.mis.base import Tombstone
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.structure import ClassMembership, Group, GroupMembership, TeachingClass
from authserver.models.tokens import Token
from authserver.web.errors import json_error

DEFAULT_LIMIT = 100
LAST_USE_PRECISION_SECONDS = 60
MAX_LIMIT = 1000
_PLURALS = {
    "staff": "staff",
    "staff_pay": "staff-pay",
    "staff_next_of_kin": "staff-next-of-kin",
    "class": "classes",
    "agency": "agencies",
    "staff_disability": "staff-disabilities",
    "attendance_summary": "attendance-summaries",
    "enrolment_history": "enrolment-histories",
    "school_history": "school-histories",
    "post16_study": "post16-studies",
    "school_info": "school-info",
    "endpoint_info": "endpoint-info",
    "funding_monitoring": "funding-monitoring",
}


def resource_name(entity: str) -> str:
    """The URL name of an entity's collection (`student` is /students)."""
    return _PLURALS.get(entity) or entity.replace("_", "-") + "s"


RESOURCES: dict[str, str] = {resource_name(e): e for e in ENTITIES if e != "school"}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _isoformat(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _json_default(value: Any) -> Any:
    """What orjson does not write itself (it writes dates and times as ISO 8601, as _plain)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_response(body: Any) -> Response:
    """A JSON answer written by orjson: a 1,000-record page in a tenth of the stdlib's time."""
    return Response(orjson.dumps(body, default=_json_default), mimetype="application/json")


def document_of(row: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON document of a row (a model instance or a selected row) with `fields`."""
    document = {"id": row.id}
    if hasattr(row, "updated_at"):
        document["updated_at"] = _isoformat(row.updated_at)
    for name in fields:
        document[name] = _plain(getattr(row, name))
    return document


def _documents(rows: list[Any], fields: list[str]) -> list[dict[str, Any]]:
    """Documents of rows selected by `_selected`, values as the database gave them (for
    `json_response`): the hot loop of a 1,000-record page."""
    names = ("id", "updated_at", *fields)
    # zip stops at the last field: a trailing student_id kept for includes is left out.
    return [dict(zip(names, row, strict=False)) for row in rows]


def _selected(model: type, fields: list[str]) -> Select:
    """Only the columns a response needs: plain rows, no ORM objects to build and expire."""
    names = ["id", "updated_at", *fields]
    if hasattr(model, "student_id") and "student_id" not in fields:
        names.append("student_id")  # includes of the pupil follow it
    return select(*(getattr(model, name) for name in names))


def _disclosure() -> tuple[Token, Disclosure]:
    if current_token._get_current_object() is None:
        # The catch-all routes authenticate after checking that the resource exists.
        try:
            require_token.acquire_token()
        except OAuth2Error as error:
            require_token.raise_error_response(error)
    token: Token = current_token._get_current_object()
    if token.school_id is None:
        invalid_token("This is an application token: use a school's token for its data.")
    return token, disclosure_for(
        school_id=token.school_id, scopes=token.scopes, restrictions=token.restrictions
    )


def _require(disclosure: Disclosure, entity: str) -> list[str]:
    fields = disclosure.visible_fields(entity)
    if not disclosure.may_read(entity):
        insufficient_scope(disclosure.scopes_for(entity))
    return fields


def _cursors() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="api cursor")


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    # Length first: int() of thousands of digits is refused (and slow) before any range check.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= MAX_LIMIT:
        abort(json_error(400, "invalid_request", f"limit must be between 1 and {MAX_LIMIT}."))
    return int(raw)


def _updated_after() -> dt.datetime | None:
    raw = request.args.get("updated_after")
    if not raw:
        return None
    return parse_moment(raw)


def parse_moment(raw: str) -> dt.datetime:
    """An ISO 8601 time from a query, in UTC; anything else (or out of range) is a 400."""
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        abort(json_error(400, "invalid_request", "updated_after must be an ISO 8601 time."))


def _record_use(
    token: Token, entity: str, fields: list[str], count: int, includes: list[str]
) -> None:
    """Remember what the request read, so the school sees what the application really uses."""
    catalogue = default_catalogue()
    names = {f"{entity}.{f}" for f in fields}
    used = (
        sorted(s for s in token.scopes if set(catalogue[s].fields) & names) if token.scopes else []
    )
    audit.record(
        AuditAction.DATA_READ,
        actor=token.application,
        school=token.school_id,
        application=token.application_id,
        entity=entity,
        fields=sorted(fields),
        scopes=used,
        rows=count,
        include=includes,
    )
    if token.grant_id is not None:
        # The dashboard shows the last use to the minute: rewriting the grant row on every
        # read of a sync would only churn it (and contend for it across workers).
        now = utcnow()
        db.session.connection().execute(
            Grant.__table__.update()
            .where(
                Grant.id == token.grant_id,
                or_(
                    Grant.last_used_at.is_(None),
                    Grant.last_used_at < now - dt.timedelta(seconds=LAST_USE_PRECISION_SECONDS),
                ),
            )
            .values(last_used_at=now)
        )
    db.session.commit()


# --- Includes: related data, each checked like the main resource -------------------------------


def _children_by_student(
    disclosure: Disclosure, entity: str, ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    fields = _require(disclosure, entity)
    model = ENTITIES[entity]
    query = rows_visible(disclosure, entity, select(model).where(model.student_id.in_(ids)))
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in db.session.scalars(query.order_by(model.id)):
        grouped.setdefault(row.student_id, []).append(document_of(row, fields))
    return grouped


def _linked(
    disclosure: Disclosure, entity: str, link: Any, link_column: Any, target: Any, ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    fields = _require(disclosure, entity)
    query = rows_visible(
        disclosure,
        entity,
        select(link.student_id, target)
        .join(link, link_column == target.id)
        .where(link.student_id.in_(ids), link.school_id == disclosure.school_id),
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for student_id, row in db.session.execute(query.order_by(target.id)):
        grouped.setdefault(student_id, []).append(document_of(row, fields))
    return grouped


def _include(disclosure: Disclosure, entity: str, name: str, rows: list[Any]) -> dict[int, Any]:
    ids = [row.id for row in rows]
    if entity == "student":
        if name == "contacts":
            return _linked(
                disclosure, "contact", StudentContact, StudentContact.contact_id, Contact, ids
            )
        if name == "classes":
            return _linked(
                disclosure, "class", ClassMembership, ClassMembership.class_id, TeachingClass, ids
            )
        if name == "groups":
            return _linked(
                disclosure, "group", GroupMembership, GroupMembership.group_id, Group, ids
            )
        child = RESOURCES.get(name)
        if child and hasattr(ENTITIES[child], "student_id"):
            return _children_by_student(disclosure, child, ids)
    elif name == "student" and hasattr(ENTITIES[entity], "student_id"):
        fields = _require(disclosure, "student")
        model = ENTITIES["student"]
        wanted = {row.student_id for row in rows if row.student_id is not None}
        query = rows_visible(disclosure, "student", select(model).where(model.id.in_(wanted)))
        parents = {r.id: document_of(r, fields) for r in db.session.scalars(query)}
        return {row.id: parents.get(row.student_id) for row in rows}
    abort(json_error(400, "invalid_request", f"{name} cannot be included here."))


def _includes(entity: str) -> list[str]:
    raw = request.args.get("include", "")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > 10 or len(raw) > 300:
        abort(json_error(400, "invalid_request", "Ask for at most 10 includes."))
    return list(dict.fromkeys(names))


def _with_includes(
    disclosure: Disclosure, entity: str, rows: list[Any], fields: list[str], includes: list[str]
) -> list[dict[str, Any]]:
    documents = _documents(rows, fields)
    for name in includes:
        related = _include(disclosure, entity, name, rows)
        for row, document in zip(rows, documents, strict=True):
            document[name] = related.get(row.id, [] if name != "student" else None)
    return documents


# --- Endpoints ------------------------------------------------------------------------------


@bp.get("/school")
@require_token()
def school() -> Response:
    """The school itself (PublicSchoolData): any school token may read it."""
    token, disclosure = _disclosure()
    row = db.session.scalar(rows_visible(disclosure, "school", select(ENTITIES["school"])))
    document = {"id": row.id, "name": row.name, "urn": row.urn}
    _record_use(token, "school", ["name", "urn"], 1, [])
    return no_store(jsonify(document))


@bp.get("/<resource>")
def collection(resource: str) -> Response:
    """A page of a resource: `limit`, an opaque `cursor`, `updated_after`, `include`."""
    entity = RESOURCES.get(resource)
    if entity is None:
        return json_error(404, "not_found", f"There is no resource called {resource}.")
    token, disclosure = _disclosure()
    fields = _require(disclosure, entity)
    includes = _includes(entity)
    limit, since = _limit(), _updated_after()
    model = ENTITIES[entity]
    query = rows_visible(disclosure, entity, _selected(model, fields))
    after = _decode_cursor(request.args.get("cursor"))
    if since is not None:
        query = query.where(model.updated_at > since)
        if after:
            moment = dt.datetime.fromisoformat(after["u"])
            query = query.where(
                or_(
                    model.updated_at > moment,
                    and_(model.updated_at == moment, model.id > after["i"]),
                )
            )
        query = query.order_by(model.updated_at, model.id)
    else:
        if after:
            query = query.where(model.id > after["i"])
        query = query.order_by(model.id)
    rows = list(db.session.execute(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    documents = _with_includes(disclosure, entity, rows, fields, includes)
    cursor = None
    if more:
        last = rows[-1]
        cursor = _cursors().dumps({"i": last.id, "u": last.updated_at.isoformat()})
    _record_use(token, entity, fields, len(rows), includes)
    return no_store(json_response({"data": documents, "next": cursor}))


@bp.get("/<resource>/<int:record_id>")
def record(resource: str, record_id: int) -> Response:
    """One record, if the token may see it; another school's id is simply not found."""
    entity = RESOURCES.get(resource)
    if entity is None:
        return json_error(404, "not_found", f"There is no resource called {resource}.")
    token, disclosure = _disclosure()
    fields = _require(disclosure, entity)
    includes = _includes(entity)
    model = ENTITIES[entity]
    row = db.session.execute(
        rows_visible(disclosure, entity, _selected(model, fields).where(model.id == record_id))
    ).first()
    if row is None:
        return json_error(404, "not_found", "No such record.")
    [document] = _with_includes(disclosure, entity, [row], fields, includes)
    _record_use(token, entity, fields, 1, includes)
    return no_store(json_response(document))


@bp.get("/deletions")
@require_token()
def deletions() -> Response:
    """Records removed since `updated_after`, for the entities the token may read."""
    token, disclosure = _disclosure()
    since = _updated_after()
    if since is None:
        return json_error(400, "invalid_request", "deletions needs updated_after.")
    readable = [e for e in ENTITIES if e != "school" and disclosure.may_read(e)]
    query = (
        select(Tombstone)
        .where(
            Tombstone.school_id == disclosure.school_id,
            Tombstone.deleted_at > since,
            Tombstone.entity.in_(readable),
        )
        .order_by(Tombstone.deleted_at, Tombstone.id)
        .limit(_limit())
    )
    documents = [
        {
            "resource": resource_name(t.entity),
            "id": t.record_id,
            "deleted_at": t.deleted_at.isoformat(),
        }
        for t in db.session.scalars(query)
    ]
    _record_use(token, "deletions", [], len(documents), [])
    return no_store(jsonify(data=documents))


def _decode_cursor(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = _cursors().loads(raw)
    except BadSignature:
        abort(json_error(400, "invalid_request", "That cursor is not one we gave out."))
    if not isinstance(value, dict) or not isinstance(value.get("i"), int):
        abort(json_error(400, "invalid_request", "That cursor is not one we gave out."))
    return value


def no_store(response: Response) -> Response:
    # Personal data: never cached by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response
