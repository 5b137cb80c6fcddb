"""JSON Schema for the API's document: the MIS entities' objects from their columns (as
`domain.encoding` writes them) and the fixed-shape answers from their pydantic models."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import inspect

from authserver.api.registry import IncludeKind, Resource
from authserver.api.responses import MODELS
from authserver.domain.catalogue import default_catalogue
from authserver.domain.webhook_outbox import EVENT_MODELS
from authserver.models.mis import ENTITIES

REF = "#/components/"
#: Where a pydantic model's schema refers to another model.
SCHEMA_REF = REF + "schemas/{model}"
_TIME_PATTERN = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$"


def ref(kind: str, name: str) -> dict[str, str]:
    """A reference to one of the document's components."""
    return {"$ref": f"{REF}{kind}/{name}"}


def schema_name(entity: str) -> str:
    """The component name of an entity's object: `session_mark` is SessionMark."""
    return "".join(part.capitalize() for part in entity.split("_"))


# --- Column types to JSON Schema ----------------------------------------------------------------


def column_schema(column: Any) -> dict[str, Any]:
    """The JSON Schema of a column's value as the API writes it (see domain.encoding)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # pragma: no cover - every MIS column has one today
        python_type = str
    schema: dict[str, Any]
    if python_type is bool:
        schema = {"type": "boolean"}
    elif python_type is int:
        schema = {"type": "integer"}
    elif python_type is float:
        schema = {"type": "number"}
    elif python_type is decimal.Decimal:
        schema = {"type": "string", "format": "decimal"}
    elif python_type is dt.datetime:
        schema = {"type": "string", "format": "date-time"}
    elif python_type is dt.date:
        schema = {"type": "string", "format": "date"}
    elif python_type is dt.time:
        # isoformat() of a time of day has no offset, so RFC 3339 `time` would not fit.
        schema = {"type": "string", "pattern": _TIME_PATTERN}
    elif python_type is bytes:
        schema = {"type": "string", "contentEncoding": "base64"}
    else:
        schema = {"type": "string"}
        length = getattr(column.type, "length", None)
        if length:
            schema["maxLength"] = length
    if column.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def columns_of(entity: str) -> dict[str, Any]:
    return {column.key: column for column in inspect(ENTITIES[entity]).columns}


def entity_schema(resource: Resource) -> dict[str, Any]:
    """An entity's object: `id` and `updated_at` always; each field only if the grant reveals
    it; and, for the includes this entity allows, the included records."""
    catalogue = default_catalogue()
    entity = resource.entity
    columns = columns_of(entity)
    properties: dict[str, Any] = {
        "id": {"type": "integer"},
        "updated_at": {"type": "string", "format": "date-time"},
    }
    for field in resource.fields:
        schema = column_schema(columns[field])
        label = catalogue.field_labels.get(f"{entity}.{field}")
        if label:
            schema["description"] = label
        properties[field] = schema
    if "writeback_item_id" in columns:
        properties["writeback"] = {
            **ref("schemas", "PendingWrite"),
            "description": "Only while a write through the API has not reached the MIS.",
        }
    for name, include in resource.includes.items():
        target = ref("schemas", schema_name(include.entity))
        if include.kind is IncludeKind.PARENT:
            properties[name] = {
                "oneOf": [target, {"type": "null"}],
                "description": f"With include={name}: the pupil, or null if not visible.",
            }
        else:
            properties[name] = {
                "type": "array",
                "items": target,
                "description": f"With include={name}.",
            }
    try:
        title = catalogue.entity_label(entity)
    except KeyError:
        title = entity
    return {
        "type": "object",
        "title": title,
        "description": (
            f"A {entity} record. Fields the token's grant does not reveal are absent (not null)."
        ),
        "required": ["id", "updated_at"],
        "properties": properties,
        "additionalProperties": False,
    }


def model_schemas() -> dict[str, Any]:
    """The components of the fixed-shape answers and webhook bodies: each model's own JSON
    Schema, and the models it holds, under their class names."""
    schemas: dict[str, Any] = {}
    for model in (*MODELS, *EVENT_MODELS.values()):
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    return schemas


def write_field_schema(column: Any, required: bool) -> dict[str, Any]:
    """A writable field: a required one must have a value; an optional one may be null."""
    schema = column_schema(column)
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    schema["type"] = kind if required else [kind, "null"]
    if required and kind == "string":
        schema["minLength"] = 1
    return schema
