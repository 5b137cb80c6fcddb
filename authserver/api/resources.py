"""The school's data: every MIS entity as a resource, served exactly as far as the grant allows.

One place does the enforcement for every endpoint and include: the token's Disclosure picks
the fields (from the catalogue) and `rows_visible` the rows (school, pupils, row rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2 import OAuth2Error
from flask import Response, abort, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, and_, or_, select, true

from authserver.api import bp
from authserver.api.protection import insufficient_scope, invalid_token, record_use, require_token
from authserver.api.registry import RESOURCES, Include, IncludeKind, Resource, resource_name
from authserver.api.responses import (
    Deletion,
    DeletionList,
    School,
    SchoolSync,
    model_response,
    no_store,
)
from authserver.domain import encoding, sync_health, views, writeback_queue
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.domain.disclosure import Disclosure, disclosure_for, rows_visible
from authserver.extensions import db
from authserver.models.grants import Grant
from authserver.models.mis import ENTITIES
from authserver.models.tokens import Token
from authserver.web.errors import json_error

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def json_response(body: Any) -> Response:
    """A JSON answer written by orjson: a 1,000-record page in a tenth of the stdlib's time."""
    return Response(encoding.dumps(body), mimetype="application/json")


def document_of(row: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The document of a row (a model instance or a selected row) with `fields`, values as the
    database gave them (for `json_response`)."""
    document = {"id": row.id}
    if hasattr(row, "updated_at"):
        document["updated_at"] = row.updated_at
    for name in fields:
        document[name] = getattr(row, name)
    return document


def _documents(rows: list[Any], fields: list[str]) -> list[dict[str, Any]]:
    """Documents of rows selected by `_selected`, as `document_of` makes them: the hot loop of
    a 1,000-record page."""
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


def _view_of(token: Token) -> Grant | None:
    """The token's grant with its view ledger brought up to date (and committed, so that the
    grant's lock is not held while the page is read)."""
    grant = token.grant
    if grant is None:
        return None
    views.reconcile(
        grant,
        disclosure_for(
            school_id=grant.school_id, scopes=grant.scopes, restrictions=grant.restrictions
        ),
    )
    db.session.commit()
    return grant


def _sync_from(school_id: int) -> dt.datetime:
    """Where the vendor's next sync starts, told with each page of a list or the deletions
    feed: read after the grant's view is brought up to date and before the page itself."""
    skew = dt.timedelta(seconds=current_app.config["SETTINGS"].sync_from_skew_seconds)
    return views.sync_from(school_id, skew=skew)


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


def _record_read(
    token: Token,
    entity: str,
    fields: list[str],
    count: int,
    includes: list[str],
    included: Mapping[str, int] | None = None,
) -> None:
    """Remember what the request read: the fields actually sent in at least one record
    (`entity.field`; `included` maps the includes' fields to their own records sent), the
    scopes that allowed them; then commit."""
    catalogue = default_catalogue()
    records = dict.fromkeys((f"{entity}.{f}" for f in fields), count)
    for name, sent_in in (included or {}).items():
        records[name] = records.get(name, 0) + sent_in
    sent = sorted(name for name, sent_in in records.items() if sent_in)
    used = (
        sorted(s for s in token.scopes if set(catalogue[s].fields) & set(sent))
        if token.scopes
        else []
    )
    record_use(
        token,
        AuditAction.DATA_READ,
        entity=entity,
        fields=sorted(fields),
        read_fields=sent,
        scopes=used,
        rows=count,
        include=includes,
        records_per_field={name: records[name] for name in sent},
    )
    db.session.commit()


# --- Includes: related data, each checked like the main resource -------------------------------


def _children_by_student(
    disclosure: Disclosure, entity: str, ids: list[int], fields: list[str]
) -> dict[int, list[dict[str, Any]]]:
    model = ENTITIES[entity]
    query = rows_visible(disclosure, entity, select(model).where(model.student_id.in_(ids)))
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in db.session.scalars(query.order_by(model.id)):
        grouped.setdefault(row.student_id, []).append(document_of(row, fields))
    return grouped


def _linked(
    disclosure: Disclosure,
    entity: str,
    link: Any,
    link_column: Any,
    ids: list[int],
    fields: list[str],
) -> dict[int, list[dict[str, Any]]]:
    target = ENTITIES[entity]
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


def _parents(disclosure: Disclosure, rows: list[Any], fields: list[str]) -> dict[int, Any]:
    model = ENTITIES["student"]
    wanted = {row.student_id for row in rows if row.student_id is not None}
    query = rows_visible(disclosure, "student", select(model).where(model.id.in_(wanted)))
    parents = {r.id: document_of(r, fields) for r in db.session.scalars(query)}
    return {row.id: parents.get(row.student_id) for row in rows}


def _include(
    disclosure: Disclosure, resource: Resource, name: str, rows: list[Any], fields: list[str]
) -> dict:
    include = resource.includes[name]
    ids = [row.id for row in rows]
    if include.kind is IncludeKind.LINKED:
        return _linked(disclosure, include.entity, include.link, include.link_column, ids, fields)
    if include.kind is IncludeKind.CHILDREN:
        return _children_by_student(disclosure, include.entity, ids, fields)
    return _parents(disclosure, rows, fields)


def _links_followed(resource: Resource, include: Include) -> list[str]:
    """The fields a join through the include follows (`entity.field`): the school must have
    shared each, or the include would say whose a record is when the school chose not to."""
    if include.kind is IncludeKind.PARENT:
        return [f"{resource.entity}.student_id"]
    if include.kind is IncludeKind.CHILDREN:
        return [f"{include.entity}.student_id"]
    link = include.link.__entity__
    return [f"{link}.student_id", f"{link}.{include.link_column.key}"]


def _includes(disclosure: Disclosure, resource: Resource) -> list[str]:
    raw = request.args.get("include", "")
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if len(names) > 10 or len(raw) > 300:
        abort(json_error(400, "invalid_request", "Ask for at most 10 includes."))
    for name in names:
        include = resource.includes.get(name)
        if include is None:
            abort(json_error(400, "invalid_request", f"{name} cannot be included here."))
        _require(disclosure, include.entity)
        withheld = [f for f in _links_followed(resource, include) if f not in disclosure.fields]
        if withheld:
            abort(
                json_error(
                    400,
                    "invalid_request",
                    f"{name} cannot be included: the school did not share {withheld[0]},"
                    " the link it follows.",
                )
            )
    return names


#: The query parameters each kind of endpoint takes; anything else is refused, so that a
#: filter or sort the API does not apply (on a field left out, say) is never taken as done.
_PARAMETERS = {
    "collection": frozenset({"limit", "cursor", "updated_after", "include", "fields"}),
    "record": frozenset({"include", "fields"}),
    "deletions": frozenset({"limit", "cursor", "updated_after"}),
}


def _refuse_unknown_parameters(kind: str, resource: Resource | None = None) -> None:
    for name in request.args:
        if name in _PARAMETERS[kind]:
            continue
        message = f"{name} is not a parameter here."
        if resource is not None and name in resource.fields:
            message = f"{name}: lists are not filtered or sorted by their fields."
        elif name in ("sort", "order", "order_by", "filter"):
            message = f"{name}: lists come in id order (updated_at order with updated_after)."
        abort(json_error(400, "invalid_request", message))


def _sparse_fields(
    disclosure: Disclosure, resource: Resource, includes: list[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """The fields to send, of the resource and of each include: all the grant allows, or the
    ones named in `fields` (`surname`, `contacts.email`), each of which it must allow."""
    everything = {
        name: disclosure.visible_fields(resource.includes[name].entity) for name in includes
    }
    main = disclosure.visible_fields(resource.entity)
    raw = request.args.get("fields")
    if raw is None:
        return main, everything
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names or len(raw) > 4000:
        abort(json_error(400, "invalid_request", "fields names the fields to send, by commas."))
    wanted_main: list[str] = []
    wanted: dict[str, list[str]] = {}
    for name in names:
        scope_of, _, field = name.rpartition(".")
        if scope_of and scope_of not in includes:
            abort(json_error(400, "invalid_request", f"fields: {scope_of} is not included."))
        allowed = everything[scope_of] if scope_of else main
        entity = resource.includes[scope_of].entity if scope_of else resource.entity
        if field not in allowed:
            abort(
                json_error(
                    400, "invalid_request", f"fields: {entity}.{field} is not a field you may read."
                )
            )
        (wanted.setdefault(scope_of, []) if scope_of else wanted_main).append(field)
    picked = {
        name: [f for f in fields if f in wanted[name]] if name in wanted else fields
        for name, fields in everything.items()
    }
    if wanted_main:
        main = [f for f in main if f in wanted_main]
    return main, picked


def _with_includes(
    disclosure: Disclosure,
    resource: Resource,
    rows: list[Any],
    fields: list[str],
    includes: dict[str, list[str]],
) -> list[dict[str, Any]]:
    documents = _documents(rows, fields)
    for name, include_fields in includes.items():
        related = _include(disclosure, resource, name, rows, include_fields)
        empty = None if resource.includes[name].kind is IncludeKind.PARENT else []
        for row, document in zip(rows, documents, strict=True):
            document[name] = related.get(row.id, empty)
    return documents


# --- Endpoints ------------------------------------------------------------------------------


@bp.get("/school")
@require_token()
def school() -> Response:
    """The school itself (PublicSchoolData): any school token may read it."""
    token, disclosure = _disclosure()
    row = db.session.scalar(rows_visible(disclosure, "school", select(ENTITIES["school"])))
    health = sync_health.health_of(db.session, row.id)
    body = School(id=row.id, name=row.name, urn=row.urn, sync=SchoolSync(**health.as_api()))
    _record_read(token, "school", ["name", "urn"], 1, [])
    return no_store(model_response(body))


class _Read:
    """What a read of a resource starts from: the resource, the token and what it may see."""

    def __init__(self, name: str, kind: str) -> None:
        resource = RESOURCES.get(name)
        if resource is None:
            abort(json_error(404, "not_found", f"There is no resource called {name}."))
        self.resource = resource
        self.token, self.disclosure = _disclosure()
        _require(self.disclosure, resource.entity)
        _refuse_unknown_parameters(kind, resource)
        names = _includes(self.disclosure, resource)
        self.fields, self.includes = _sparse_fields(self.disclosure, resource, names)

    def query(self) -> Select:
        """The rows of the resource this token may see, with only the fields it may see."""
        entity = self.resource.entity
        return rows_visible(self.disclosure, entity, _selected(self.resource.model, self.fields))

    def answer(self, rows: list[Any]) -> list[dict[str, Any]]:
        """The rows' documents with their includes; the read recorded and committed."""
        documents = _with_includes(self.disclosure, self.resource, rows, self.fields, self.includes)
        # Records a vendor wrote that the MIS has not confirmed yet say so (read-only).
        pending = writeback_queue.markers(db.session, self.resource.model, [r.id for r in rows])
        for document in documents if pending else ():
            marker = pending.get(document["id"])
            if marker is not None:
                document["writeback"] = marker.as_json()
        # An include's fields count its own records sent (none for an empty page).
        included: dict[str, int] = {}
        for name, fields in self.includes.items():
            sent_in = sum(_records_in(document[name]) for document in documents)
            for field in fields:
                key = f"{self.resource.includes[name].entity}.{field}"
                included[key] = included.get(key, 0) + sent_in
        _record_read(
            self.token,
            self.resource.entity,
            self.fields,
            len(rows),
            list(self.includes),
            included=included,
        )
        return documents


def _records_in(included: list[dict[str, Any]] | dict[str, Any] | None) -> int:
    """How many records an include sent with one document: a list's, or a parent (or null)."""
    if isinstance(included, list):
        return len(included)
    return 0 if included is None else 1


@bp.get("/<resource>")
def collection(resource: str) -> Response:
    """A page of a resource: `limit`, an opaque `cursor`, `updated_after`, `include`."""
    read = _Read(resource, "collection")
    limit, since = _limit(), _updated_after()
    grant = _view_of(read.token)
    sync_from = _sync_from(read.disclosure.school_id)
    model = read.resource.model
    query = read.query()
    after = _decode_cursor(request.args.get("cursor"), read.resource.name)
    if since is not None:
        query = query.where(_changed_since(grant, model, read.resource.entity, since))
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
    cursor = None
    if more:
        last = rows[-1]
        cursor = _cursors().dumps(
            {"r": read.resource.name, "i": last.id, "u": last.updated_at.isoformat()}
        )
    return no_store(
        json_response({"data": read.answer(rows), "next": cursor, "sync_from": sync_from})
    )


def _changed_since(grant: Grant | None, model: Any, entity: str, since: dt.datetime) -> Any:
    """Which records are news to a copy made at `since`: those changed since, and those that
    came into the grant's view since (their person, or a field of the resource)."""
    if grant is None:
        return model.updated_at > since
    if views.fields_came_into_view(grant.id, entity, since):
        return true()
    came = views.came_into_view(grant.id, model, since)
    changed = model.updated_at > since
    return changed if came is None else or_(changed, came)


@bp.get("/<resource>/<int:record_id>")
def record(resource: str, record_id: int) -> Response:
    """One record, if the token may see it; another school's id is simply not found."""
    read = _Read(resource, "record")
    row = db.session.execute(read.query().where(read.resource.model.id == record_id)).first()
    if row is None:
        return json_error(404, "not_found", "No such record.")
    [document] = read.answer([row])
    return no_store(json_response(document))


@bp.get("/deletions")
@require_token()
def deletions() -> Response:
    """What a copy must remove since `updated_after` (or after `cursor`): records deleted in
    the MIS or gone from the grant's view, fields left out, resources withdrawn."""
    token, disclosure = _disclosure()
    _refuse_unknown_parameters("deletions")
    limit = _limit()
    raw_cursor = request.args.get("cursor")
    since = _updated_after()
    after = None
    if raw_cursor:
        position = _decode_cursor(raw_cursor, "deletions")
        after = (dt.datetime.fromisoformat(position["u"]), position["s"], position["i"])
    elif since is None:
        return json_error(400, "invalid_request", "deletions needs updated_after or a cursor.")
    grant = _view_of(token)
    if grant is None:
        return json_error(400, "invalid_request", "This token has no grant to follow.")
    sync_from = _sync_from(disclosure.school_id)
    readable = [r.entity for r in RESOURCES.values() if disclosure.may_read(r.entity)]
    entries = views.deletions_after(
        grant.id,
        disclosure,
        readable=readable,
        since=since,
        after=after,
        limit=limit + 1,
    )
    more = len(entries) > limit
    entries = entries[:limit]
    cursor = None
    if more:
        moment, source, last = entries[-1].position
        cursor = _cursors().dumps(
            {"r": "deletions", "u": moment.isoformat(), "s": source, "i": last}
        )
    body = DeletionList(
        data=[_deletion(entry) for entry in entries], next=cursor, sync_from=sync_from
    )
    _record_read(token, "deletions", [], len(body.data), [])
    return no_store(model_response(body))


def _deletion(entry: views.FeedEntry) -> Deletion:
    return Deletion(
        resource=resource_name(entry.entity),
        id=entry.record_id,
        field=entry.field,
        reason=entry.reason,
        deleted_at=entry.deleted_at,
    )


def _decode_cursor(raw: str | None, resource: str) -> dict[str, Any] | None:
    """A cursor we gave out for this resource (a list's, or the deletions feed's)."""
    if not raw:
        return None
    refused = json_error(400, "invalid_request", "That cursor is not one we gave out here.")
    try:
        value = _cursors().loads(raw)
    except BadSignature:
        abort(refused)
    if (
        not isinstance(value, dict)
        or value.get("r") != resource
        or not isinstance(value.get("i"), int)
        or not isinstance(value.get("u"), str)
    ):
        abort(refused)
    try:
        dt.datetime.fromisoformat(value["u"])
    except ValueError:
        abort(refused)
    if resource == "deletions" and value.get("s") not in (0, 1):
        abort(refused)
    return value
