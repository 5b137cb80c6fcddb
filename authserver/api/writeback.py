"""Writeback endpoints: POST a batch of registers, conduct or assessment results to the MIS.

`POST /api/v1/<resource>` with `{"data": [...]}` (at most 1000 objects) and a school token
holding the resource's Writeback scope. Every object is checked first; any error answers 422
with all the errors and writes nothing. Otherwise all are written, audited and committed at
once, and the answer (201) shows the written records as the read API shows them.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from flask import Response, request
from sqlalchemy.exc import IntegrityError

from authserver.api import bp
from authserver.api.protection import insufficient_scope, invalid_token, record_use, require_token
from authserver.api.resources import document_of, json_response
from authserver.api.responses import Problem, ValidationError, model_response, no_store
from authserver.domain import writeback
from authserver.domain.audit import AuditAction
from authserver.domain.disclosure import disclosure_for
from authserver.extensions import db
from authserver.models.tokens import Token
from authserver.web.errors import json_error


def _write(resource: writeback.WritebackResource) -> Response:
    token: Token = current_token._get_current_object()
    if token.school_id is None:
        invalid_token("This is an application token: use a school's token to write its data.")
    if resource.scope not in (token.scopes or []):
        insufficient_scope([resource.scope])
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
    disclosure = disclosure_for(
        school_id=token.school_id, scopes=token.scopes, restrictions=token.restrictions
    )
    try:
        cleaned, errors = writeback.validate(
            db.session,
            resource,
            batch,
            school_id=token.school_id,
            pupils=disclosure.pupil_ids(),
        )
        if errors:
            db.session.rollback()
            body = ValidationError(
                error="invalid_request",
                error_description=f"{len(errors)} problem(s) in the batch; nothing was written.",
                errors=[Problem(**problem) for problem in errors],
            )
            return no_store(model_response(body, 422))
        rows = writeback.write(db.session, resource, cleaned, token.school_id)
        fields = list(writeback.fields_of(resource))
        documents = [document_of(row, fields) for row in rows]
        record_use(
            token,
            AuditAction.DATA_WRITTEN,
            entity=resource.entity,
            count=len(rows),
            fields=sorted({f for values in cleaned for f, v in values.items() if v is not None}),
            scope=resource.scope,
        )
        db.session.commit()
    except IntegrityError:
        # Another batch wrote the same session mark at the same moment: nothing of this one is
        # kept, and sending it again is safe (it replaces the mark).
        db.session.rollback()
        return json_error(409, "conflict", "A concurrent batch wrote the same marks; retry.")
    except Exception:
        db.session.rollback()
        raise
    response = json_response({"data": documents})
    response.status_code = 201
    return no_store(response)


def _endpoint(resource: writeback.WritebackResource):
    def endpoint() -> Response:
        return _write(resource)

    endpoint.__name__ = f"write_{resource.entity}"
    endpoint.__doc__ = f"Write a batch of {resource.resource} ({resource.scope})."
    return endpoint


for _resource in writeback.WRITEBACK_RESOURCES.values():
    bp.post(f"/{_resource.resource}")(require_token()(_endpoint(_resource)))
