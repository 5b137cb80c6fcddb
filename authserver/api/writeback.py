"""Writeback endpoints: registers, conduct, assessment results and photos, on their way to the
school's MIS.

`POST /api/v1/<resource>` with `{"data": [...]}` (at most 1000 objects) and a school token
holding the resource's Writeback scope. Every object is checked first; any error answers 422
with all the errors and writes nothing. Otherwise all are written, queued for the school's MIS,
audited and committed at once, and the answer (201) shows the written records as the read API
shows them, marked pending, with the write's state (`GET /api/v1/writebacks/{id}` follows it).

`PATCH` and `DELETE /api/v1/<resource>/{id}` correct and withdraw a record the same
application wrote at the school; any other record is not found. `POST /api/v1/photos` takes
one image. Every write honours an Idempotency-Key header (authserver/api/idempotency.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from flask import Response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from authserver.api import bp
from authserver.api.idempotency import idempotent, keep_answer, key_in_use
from authserver.api.protection import insufficient_scope, invalid_token, record_use, require_token
from authserver.api.resources import document_of
from authserver.api.responses import (
    Problem,
    ValidationError,
    WritebackItemStatus,
    WritebackStatus,
    model_response,
    no_store,
)
from authserver.domain import encoding, photos, writeback, writeback_queue
from authserver.domain.audit import AuditAction
from authserver.domain.disclosure import Disclosure, disclosure_for
from authserver.domain.writeback import WritebackResource
from authserver.extensions import db
from authserver.models.mis import ENTITIES, PERSON_TYPES
from authserver.models.mis.base import MisRecord
from authserver.models.tokens import Token
from authserver.models.writebacks import Writeback
from authserver.web.errors import json_error


def _school_token(scope: str | None) -> Token:
    token: Token = current_token._get_current_object()
    if token.school_id is None:
        invalid_token("This is an application token: use a school's token to write its data.")
    if scope is not None and scope not in (token.scopes or []):
        insufficient_scope([scope])
    return token


def _disclosure(token: Token) -> Disclosure:
    return disclosure_for(
        school_id=token.school_id, scopes=token.scopes, restrictions=token.restrictions
    )


def _excluded(token: Token) -> frozenset[str]:
    return frozenset((token.restrictions or {}).get("excluded_fields", ()))


def _problems(errors: list[dict[str, Any]], what: str) -> Response:
    db.session.rollback()
    body = ValidationError(
        error="invalid_request",
        error_description=f"{len(errors)} problem(s) in {what}; nothing was written.",
        errors=[Problem(**problem) for problem in errors],
    )
    return no_store(model_response(body, 422))


def status_of(request_: Writeback) -> WritebackStatus:
    """A write's state as the vendor sees it."""
    counts = writeback_queue.counts_of(request_)
    return WritebackStatus(
        id=request_.id,
        resource=request_.resource,
        state=writeback_queue.state_of(request_),  # type: ignore[arg-type]
        created_at=request_.created_at,
        settled_at=request_.settled_at,
        queued=counts["queued"],
        applied=counts["applied"],
        rejected=counts["rejected"],
        items=[
            WritebackItemStatus(
                index=item.position,
                op=item.op,  # type: ignore[arg-type]
                resource=request_.resource,
                id=item.record_id,
                state=item.state,  # type: ignore[arg-type]
                reason=item.reason,
                settled_at=item.settled_at,
            )
            for item in request_.items
        ],
    )


def _documents(
    resource: WritebackResource, written: list[writeback.Written], queued: Writeback, token: Token
) -> list[dict[str, Any]]:
    excluded = _excluded(token)
    fields = [f for f in writeback.fields_of(resource) if f"{resource.entity}.{f}" not in excluded]
    documents = []
    for change in written:
        document = document_of(change.row, fields)
        document["writeback"] = {"id": queued.id, "state": "queued", "op": change.op}
        documents.append(document)
    return documents


def _commit_write(
    token: Token,
    resource: WritebackResource,
    written: list[writeback.Written],
    action: AuditAction,
    body_of: Any,
    status: int,
    **detail: Any,
) -> Response:
    """Queue what was written, audit it, keep the answer with the idempotency key and commit:
    all in one transaction."""
    queued = writeback_queue.queue(
        db.session,
        application=token.application,
        school_id=token.school_id,
        resource=resource.resource,
        written=written,
        idempotency_key=key_in_use(),
    )
    record_use(
        token,
        action,
        entity=resource.entity,
        count=len(written),
        scope=resource.scope,
        writeback_id=queued.id,
        **detail,
    )
    body = encoding.dumps(body_of(queued))
    keep_answer(status, body)
    db.session.commit()
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Location"] = f"{bp.url_prefix}/writebacks/{queued.id}"
    return no_store(response)


def _write(resource: WritebackResource) -> Response:
    token = _school_token(resource.scope)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return json_error(
            400, "invalid_request", 'Send JSON: {"data": [ ... ]}, a list of objects.'
        )
    batch: list[Any] = body["data"]
    if len(batch) > writeback.MAX_BATCH:
        return json_error(
            413, "request_too_large", f"Send at most {writeback.MAX_BATCH} objects at a time."
        )
    if not batch:
        return json_error(400, "invalid_request", "data is empty: there is nothing to write.")
    try:
        cleaned, errors = writeback.validate(
            db.session,
            resource,
            batch,
            school_id=token.school_id,
            pupils=_disclosure(token).pupil_ids(),
            excluded=_excluded(token),
        )
        if errors:
            return _problems(errors, "the batch")
        written = writeback.write(db.session, resource, cleaned, token.school_id)
        return _commit_write(
            token,
            resource,
            written,
            AuditAction.DATA_WRITTEN,
            lambda queued: {
                "data": _documents(resource, written, queued, token),
                "writeback": status_of(queued).model_dump(mode="json"),
            },
            201,
            fields=sorted({f for values in cleaned for f, v in values.items() if v is not None}),
        )
    except IntegrityError:
        # Another batch wrote the same session mark at the same moment: nothing of this one is
        # kept, and sending it again is safe (it replaces the mark).
        db.session.rollback()
        return json_error(409, "conflict", "A concurrent batch wrote the same marks; retry.")
    except Exception:
        db.session.rollback()
        raise


def _own(resource: WritebackResource, token: Token, record_id: int) -> MisRecord | None:
    row = writeback_queue.own_record(
        db.session,
        resource.entity,
        record_id,
        school_id=token.school_id,
        application_id=token.application_id,
    )
    if row is None or writeback_queue.is_withdrawn(db.session, row):
        return None
    return row


_NOT_FOUND = "No such record written by this application at this school."


def _correct(resource: WritebackResource, record_id: int) -> Response:
    token = _school_token(resource.scope)
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return json_error(400, "invalid_request", "Send a JSON object of the fields to change.")
    row = _own(resource, token, record_id)
    if row is None:
        return json_error(404, "not_found", _NOT_FOUND)
    try:
        cleaned, errors = writeback.validate_change(
            db.session,
            resource,
            row,
            changes,
            school_id=token.school_id,
            pupils=_disclosure(token).pupil_ids(),
            excluded=_excluded(token),
        )
        if errors:
            return _problems(errors, "the correction")
        written = writeback.correct(db.session, row, cleaned)
        return _commit_write(
            token,
            resource,
            [written],
            AuditAction.DATA_CORRECTED,
            lambda queued: {
                "data": _documents(resource, [written], queued, token)[0],
                "writeback": status_of(queued).model_dump(mode="json"),
            },
            200,
            record_id=record_id,
            fields=sorted(cleaned),
        )
    except IntegrityError:
        db.session.rollback()
        return json_error(409, "conflict", "Another record already holds those values.")
    except Exception:
        db.session.rollback()
        raise


def _withdraw(resource: WritebackResource, record_id: int) -> Response:
    token = _school_token(resource.scope)
    row = _own(resource, token, record_id)
    if row is None:
        return json_error(404, "not_found", _NOT_FOUND)
    try:
        written = writeback.withdraw(row)
        return _commit_write(
            token,
            resource,
            [written],
            AuditAction.DATA_WITHDRAWN,
            lambda queued: {"writeback": status_of(queued).model_dump(mode="json")},
            202,
            record_id=record_id,
        )
    except Exception:
        db.session.rollback()
        raise


def _endpoints(resource: WritebackResource) -> None:
    def write() -> Response:
        return _write(resource)

    def correct(record_id: int) -> Response:
        return _correct(resource, record_id)

    def withdraw(record_id: int) -> Response:
        return _withdraw(resource, record_id)

    for view, verb in ((write, "write"), (correct, "correct"), (withdraw, "withdraw")):
        view.__name__ = f"{verb}_{resource.entity}"
        view.__doc__ = f"{verb.capitalize()} {resource.resource} ({resource.scope})."
    if resource.resource in writeback.WRITEBACK_RESOURCES:
        bp.post(f"/{resource.resource}")(require_token()(idempotent(write)))
    bp.patch(f"/{resource.resource}/<int:record_id>")(require_token()(idempotent(correct)))
    bp.delete(f"/{resource.resource}/<int:record_id>")(require_token()(idempotent(withdraw)))


for _resource in writeback.CORRECTABLE.values():
    _endpoints(_resource)


# --- Following a write -----------------------------------------------------------------------


@bp.get("/writebacks/<int:writeback_id>")
@require_token()
def writeback_status(writeback_id: int) -> Response:
    """A write of this application at this school: its state and each record's."""
    token = _school_token(None)
    found = writeback_queue.writeback_of(
        db.session,
        writeback_id,
        application_id=token.application_id,
        school_id=token.school_id,
    )
    if found is None:
        return json_error(404, "not_found", "No such write by this application at this school.")
    return no_store(model_response(status_of(found)))


# --- Photos ----------------------------------------------------------------------------------

#: Room for a multipart body's boundaries and fields around the largest photo.
_MULTIPART_ALLOWANCE = 64 * 1024


@bp.post("/photos")
@require_token()
def write_photo() -> Response:
    """Write a person's photo (WritebackPhotos): multipart (`photo` file) or the raw image."""
    multipart = request.mimetype == "multipart/form-data"
    limit = photos.MAX_PHOTO_BYTES + (_MULTIPART_ALLOWANCE if multipart else 0)
    if (request.content_length or 0) > limit:
        return _too_large()
    # Before anything reads the body (the idempotency key's fingerprint does).
    request.max_content_length = limit
    return _upload_photo(multipart)


@idempotent
def _upload_photo(multipart: bool) -> Response:
    token = _school_token(writeback.PHOTOS.scope)
    resource = writeback.PHOTOS
    if multipart:
        upload = request.files.get("photo")
        if upload is None:
            return json_error(400, "invalid_request", "Send the image as the `photo` part.")
        data = upload.stream.read(photos.MAX_PHOTO_BYTES + 1)
        fields: Any = request.form
    else:
        data = request.get_data(cache=True)
        fields = request.args
    if len(data) > photos.MAX_PHOTO_BYTES:
        return _too_large()
    errors: list[dict[str, Any]] = []
    person_type = fields.get("person_type")
    raw_person = fields.get("person_id", "")
    person_id = int(raw_person) if raw_person.isascii() and raw_person.isdigit() else None
    if person_type not in PERSON_TYPES:
        errors.append(
            writeback.error(0, "person_type", "person_type must be student, staff or contact.")
        )
    if person_id is None or not 1 <= person_id <= writeback.MAX_INTEGER:
        errors.append(writeback.error(0, "person_id", f"Unknown person_id: {raw_person}."))
    taken_on = None
    if fields.get("taken_on"):
        try:
            taken_on = dt.date.fromisoformat(fields["taken_on"])
        except ValueError:
            errors.append(writeback.error(0, "taken_on", "taken_on must be a date, YYYY-MM-DD."))
    excluded = _excluded(token)
    sent = {"person_type", "person_id", "content_type", "content"} | (
        {"taken_on"} if taken_on else set()
    )
    for field in sorted(sent):
        if f"photo.{field}" in excluded:
            errors.append(writeback.error(0, field, writeback.LEFT_OUT.format(field=field)))
    if not errors and not _person_in_view(token, person_type, person_id):
        errors.append(writeback.error(0, "person_id", f"Unknown person_id: {person_id}."))
    try:
        clean = photos.clean(data)
    except photos.PhotoRefused as refused:
        errors.append(writeback.error(0, "photo", str(refused)))
    if errors:
        return _problems(errors, "the photo")
    try:
        written = writeback.write_photo(
            db.session,
            token.school_id,
            {
                "person_type": person_type,
                "person_id": person_id,
                "content_type": clean.content_type,
                "content": clean.base64,
                "taken_on": taken_on,
            },
        )
        return _commit_write(
            token,
            resource,
            [written],
            AuditAction.DATA_WRITTEN,
            lambda queued: {
                "data": _documents(resource, [written], queued, token),
                "writeback": status_of(queued).model_dump(mode="json"),
            },
            201,
            fields=sorted(sent),
            bytes=len(clean.data),
        )
    except Exception:
        db.session.rollback()
        raise


def _too_large() -> Response:
    return json_error(
        413, "request_too_large", f"A photo may be at most {photos.MAX_PHOTO_BYTES} bytes."
    )


def _person_in_view(token: Token, kind: str, person_id: int) -> bool:
    disclosure = _disclosure(token)
    model = ENTITIES[kind]
    query = disclosure.people_in_view(kind).where(model.id == person_id)
    return db.session.scalar(select(query.exists())) is True
