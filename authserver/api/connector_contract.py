"""The connector API's part of the OpenAPI document: its paths, the record schema of every
entity as ingest checks it (from `ingest.field_specs`), and its answers' models."""

from __future__ import annotations

from typing import Any

from authserver.api.schemas import SCHEMA_REF, ref
from authserver.connector.answers import MODELS
from authserver.domain import ingest

PREFIX = "/connector/v1"
SECURITY = [{"connector": []}]
_KINDS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "moment": {"type": "string", "format": "date-time"},
}
_KEY = {"type": "string", "minLength": 1, "maxLength": ingest.MAX_KEY_LENGTH}


def _record_name(entity: str) -> str:
    return "Ingest" + "".join(part.title() for part in entity.split("_"))


def record_schema(entity: str) -> dict[str, Any]:
    """One record of the entity as a connector sends it: its key, fields and links by key."""
    properties: dict[str, Any] = {}
    key = ingest.key_field(entity)
    properties[key] = {
        **_KEY,
        "description": "The pupil's UPN, with its check letter."
        if entity == "student"
        else "The MIS's key for the record.",
    }
    required = [key]
    for name, spec in ingest.field_specs(entity).items():
        if name == key:
            continue
        if spec.kind in ("link", "person"):
            target = spec.target or "the person named by person_type"
            schema: dict[str, Any] = {
                **_KEY,
                "description": f"The key of {target}" + (" (a UPN)" if target == "student" else ""),
            }
        else:
            schema = dict(_KINDS[spec.kind])
            if spec.max_length:
                schema["maxLength"] = spec.max_length
        if spec.required:
            required.append(name)
        else:
            schema["type"] = [schema["type"], "null"]
        properties[name] = schema
    return {
        "type": "object",
        "description": f"A {entity.replace('_', ' ')} record; a field left out becomes empty.",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _batch_schema(deletions: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for entity in ingest.INGEST_ENTITIES:
        part: dict[str, Any] = {
            "upsert": {"type": "array", "items": ref("schemas", _record_name(entity))}
        }
        if deletions:
            part["delete"] = {"type": "array", "items": _KEY, "description": "Keys to delete."}
        properties[entity] = {
            "type": "object",
            "properties": part,
            "additionalProperties": False,
            "minProperties": 1,
        }
    return {
        "type": "object",
        "description": f"At most {ingest.MAX_BATCH_RECORDS:,} records in all. The same as NDJSON:"
        ' one {"entity": ..., "upsert": {...}} or {"entity": ..., "delete": "<key>"} per line.',
        "properties": properties,
        "additionalProperties": False,
        "minProperties": 1,
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }


def _id(name: str, noun: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The connector's own {noun} id: the same id with the same body is"
        " answered as the first time.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:~-]{1,200}$"},
    }


def _answer(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref("schemas", model)}},
    }


def _errors(*statuses: str) -> dict[str, Any]:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "404": "NotFound",
        "409": "Conflict",
        "413": "TooLarge",
        "415": "UnsupportedMediaType",
    }
    out = {status: ref("responses", names[status]) for status in statuses}
    out |= {"429": ref("responses", "TooManyRequests"), "503": ref("responses", "Unavailable")}
    return out


def _operation(
    operation_id: str, summary: str, responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["Connector"],
        "security": SECURITY,
        **extra,
        "responses": responses,
    }


def connector_paths(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Add the connector API's operations and schemas."""
    for entity in ingest.INGEST_ENTITIES:
        schemas[_record_name(entity)] = record_schema(entity)
    for model in MODELS:
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    schemas["IngestBatch"] = _batch_schema(deletions=True)
    schemas["IngestSnapshotBatch"] = _batch_schema(deletions=False)
    problems = _answer("IngestProblems", "Nothing was applied; every problem is named.")
    paths[f"{PREFIX}/changes/{{batch_id}}"] = {
        "put": _operation(
            "connector_put_changes",
            "Apply a batch of changes",
            {
                "200": _answer("IngestResult", "Applied (or applied before, with this body)."),
                "422": problems,
                **_errors("400", "401", "409", "413", "415"),
            },
            description="Upserts and deletions, applied whole or not at all. A 409 `sync_paused`"
            " means the school paused its sync; `in_progress`, that this batch is being applied.",
            parameters=[_id("batch_id", "batch")],
            requestBody=_body(ref("schemas", "IngestBatch")),
        )
    }
    paths[f"{PREFIX}/snapshots/{{snapshot_id}}"] = {
        "put": _operation(
            "connector_open_snapshot",
            "Open a snapshot of some entities",
            {
                "200": _answer("SnapshotStatus", "Opened before, for these entities."),
                "201": _answer("SnapshotStatus", "Opened."),
                **_errors("400", "401", "409"),
            },
            parameters=[_id("snapshot_id", "snapshot")],
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["entities"],
                            "properties": {
                                "entities": {
                                    "type": "array",
                                    "items": {"enum": list(ingest.INGEST_ENTITIES)},
                                    "minItems": 1,
                                }
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
        ),
        "get": _operation(
            "connector_get_snapshot",
            "A snapshot's state and progress",
            {"200": _answer("SnapshotStatus", "The snapshot."), **_errors("400", "401", "404")},
            parameters=[_id("snapshot_id", "snapshot")],
        ),
    }
    paths[f"{PREFIX}/snapshots/{{snapshot_id}}/batches/{{batch_id}}"] = {
        "put": _operation(
            "connector_put_snapshot_batch",
            "Send a batch of a snapshot's records",
            {
                "200": _answer("SnapshotBatch", "Received before, with this body."),
                "201": _answer("SnapshotBatch", "Checked and kept until the commit."),
                "422": problems,
                **_errors("400", "401", "404", "409", "413", "415"),
            },
            parameters=[_id("snapshot_id", "snapshot"), _id("batch_id", "batch")],
            requestBody=_body(ref("schemas", "IngestSnapshotBatch")),
        )
    }
    schemas["SnapshotBatch"] = {
        "type": "object",
        "required": ["batch", "records"],
        "properties": {"batch": {"type": "string"}, "records": {"type": "integer"}},
        "additionalProperties": False,
    }
    paths[f"{PREFIX}/snapshots/{{snapshot_id}}/commit"] = {
        "post": _operation(
            "connector_commit_snapshot",
            "Apply the snapshot",
            {
                "200": _answer("IngestResult", "Applied."),
                "202": _answer(
                    "SnapshotStatus",
                    "Larger than a batch: applying in the background; follow Location.",
                ),
                "422": problems,
                **_errors("400", "401", "404", "409"),
            },
            description="What the snapshot's entities no longer hold is removed. A snapshot that"
            " would remove more than the school's guard (20% by default) of its pupils or staff"
            " is refused (rule mass_deletion) unless the body says allow_mass_deletion.",
            parameters=[_id("snapshot_id", "snapshot")],
            requestBody={
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"allow_mass_deletion": {"type": "boolean"}},
                            "additionalProperties": False,
                        }
                    }
                },
            },
        )
    }
    schemas["ConnectorWritebackItem"] = {
        "type": "object",
        "description": "One vendor's write for the MIS to apply: what to do (`op`) to which"
        " record, the values sent, and the MIS's keys of the record and of those it names.",
        "required": [
            "id",
            "writeback_id",
            "created_at",
            "application",
            "op",
            "entity",
            "record_id",
            "mis_id",
            "values",
            "references",
            "state",
            "reason",
            "settled_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "writeback_id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "application": {
                "type": "object",
                "required": ["client_id", "name"],
                "properties": {"client_id": {"type": "string"}, "name": {"type": "string"}},
                "additionalProperties": False,
            },
            "op": {"enum": ["create", "update", "delete"]},
            "entity": {"type": "string"},
            "record_id": {"type": ["integer", "null"]},
            "mis_id": {"type": ["string", "null"]},
            "values": {"type": ["object", "null"]},
            "references": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "state": {"enum": ["queued", "applied", "rejected"]},
            "reason": {"type": ["string", "null"]},
            "settled_at": {"type": ["string", "null"], "format": "date-time"},
        },
        "additionalProperties": False,
    }
    paths[f"{PREFIX}/writebacks"] = {
        "get": _operation(
            "connector_list_writebacks",
            "The school's queued writes, oldest first",
            {
                "200": {
                    "description": "A page of queued items; `next` is the following page's cursor.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["data", "next"],
                                "properties": {
                                    "data": {
                                        "type": "array",
                                        "items": ref("schemas", "ConnectorWritebackItem"),
                                    },
                                    "next": {"type": ["string", "null"]},
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                **_errors("400", "401"),
            },
            parameters=[
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ],
        )
    }
    paths[f"{PREFIX}/writebacks/{{item_id}}/acknowledgement"] = {
        "post": _operation(
            "connector_acknowledge_writeback",
            "Report a write as applied in the MIS, or rejected",
            {
                "200": _answer("ConnectorWritebackItem", "Recorded (or recorded before)."),
                "422": {"$ref": "#/components/responses/BadRequest"},
                **_errors("401", "404", "409"),
            },
            parameters=[
                {
                    "name": "item_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                }
            ],
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["state"],
                            "properties": {
                                "state": {"enum": ["applied", "rejected"]},
                                "mis_id": {"type": ["string", "null"], "maxLength": 64},
                                "reason": {"type": ["string", "null"], "maxLength": 1000},
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
        )
    }
    paths[f"{PREFIX}/status"] = {
        "get": _operation(
            "connector_status",
            "The school's sync and the latest runs",
            {"200": _answer("ConnectorStatus", "The status."), **_errors("401")},
        )
    }
