"""The API contract: an OpenAPI 3.1 document built from the code's own definitions.

Nothing here is written out by hand per resource or per answer: the resources come from the
registry (`registry.RESOURCES`), their fields and types from the SQLAlchemy columns, the scopes
from the catalogue, writeback from `authserver.domain.writeback.WRITEBACK_RESOURCES`, and every
fixed-shape answer's schema from its pydantic model (`responses.MODELS`). Served, public and
cacheable, at GET /api/v1/openapi.json.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, url_for
from pydantic import BaseModel

from authserver.api import bp, responses
from authserver.api.connector_contract import connector_paths
from authserver.api.registry import RESOURCES, Resource
from authserver.api.resources import DEFAULT_LIMIT, MAX_LIMIT
from authserver.api.schemas import (
    column_schema,
    columns_of,
    entity_schema,
    model_schemas,
    ref,
    schema_name,
    write_field_schema,
)
from authserver.domain.catalogue import default_catalogue
from authserver.domain.photos import MAX_PHOTO_BYTES
from authserver.domain.webhook_outbox import EVENT_MODELS
from authserver.domain.writeback import CORRECTABLE, MAX_BATCH, PHOTOS, WRITEBACK_RESOURCES
from authserver.models.mis import entity_fields

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"
PREFIX = "/api/v1"
#: Ids are 32-bit integers (PostgreSQL `integer`).
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def _error_response(
    description: str, model: type[BaseModel] = responses.Error, **headers: str
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "headers": {"Cache-Control": ref("headers", "CacheControl")},
        "content": {"application/json": {"schema": ref("schemas", model.__name__)}},
    }
    for name, header in headers.items():
        response["headers"][name] = ref("headers", header)
    return response


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error_response("invalid_request: a parameter or the body is wrong."),
        "Unauthorized": _error_response(
            "No token (invalid_request), or a token that is not active or not of the right kind"
            " (invalid_token), as RFC 6750 §3.1.",
            WWW_Authenticate="WWWAuthenticate",
        ),
        "Forbidden": _error_response(
            "insufficient_scope: the school's grant does not cover this data; `scope` names the"
            " scopes that would.",
            responses.InsufficientScopeError,
            WWW_Authenticate="WWWAuthenticate",
        ),
        "NotFound": _error_response("not_found: no such thing, or not one this token may see."),
        "Conflict": _error_response("The request conflicts with the current state."),
        "Unprocessable": _error_response(
            "invalid_request: records that failed validation, each error with its index.",
            responses.ValidationError,
        ),
        "TooLarge": _error_response("request_too_large: the body is larger than allowed."),
        "UnsupportedMediaType": _error_response(
            "unsupported_media_type: send JSON or NDJSON, gzip or not."
        ),
        "TooManyRequests": _error_response(
            "too_many_requests: slow down.", Retry_After="RetryAfter"
        ),
        "Unavailable": _error_response(
            "temporarily_unavailable: try again shortly.", Retry_After="RetryAfter"
        ),
    }


def _headers() -> dict[str, Any]:
    return {
        "WWWAuthenticate": {
            "description": 'The RFC 6750 challenge, e.g. Bearer realm="school-data",'
            ' error="invalid_token".',
            "schema": {"type": "string"},
        },
        "RetryAfter": {"description": "Seconds to wait.", "schema": {"type": "string"}},
        "CacheControl": {
            "description": "no-store on personal data and errors.",
            "schema": {"type": "string"},
        },
        "Location": {
            "description": "The write's state: /api/v1/writebacks/{id}.",
            "schema": {"type": "string"},
        },
    }


#: The Standard Webhooks headers on every delivery (see docs/webhooks.md).
_WEBHOOK_HEADERS = {
    "WebhookId": ("webhook-id", "The event's id, as in the body; the same on every retry."),
    "WebhookTimestamp": (
        "webhook-timestamp",
        "When this attempt was signed, in seconds since 1970 (UTC); refuse one 5 minutes off.",
    ),
    "WebhookSignature": (
        "webhook-signature",
        "Space-separated `v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{body}`"
        " with the signing secret; accept the delivery if any matches.",
    ),
}


def _parameters() -> dict[str, Any]:
    webhook_headers = {
        name: {
            "name": header,
            "in": "header",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, (header, description) in _WEBHOOK_HEADERS.items()
    }
    return webhook_headers | {
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A key of your choosing, unique per write (a UUID), as the IETF"
            " httpapi Idempotency-Key draft has it (an sf-string, quoted; a bare key is taken"
            " too). Sending the same request with the same key again returns the first"
            " answer, status and body, without writing again; the same key with a different"
            " request is 422; while the first is still being handled, 409. Keys belong to the"
            " application at the school and are kept 24 hours. A write that failed (any"
            " answer but 2xx) wrote nothing and frees its key.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "description": f"Records per page, 1 to {MAX_LIMIT}.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            },
        },
        "cursor": {
            "name": "cursor",
            "in": "query",
            "description": "The `next` of the previous page, as given; opaque.",
            "schema": {"type": "string"},
        },
        "updated_after": {
            "name": "updated_after",
            "in": "query",
            "description": "Only records changed after this moment (ISO 8601; UTC if no offset).",
            "schema": {"type": "string", "format": "date-time"},
        },
    }


def _common(*statuses: str) -> dict[str, Any]:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "409": "Conflict",
        "422": "Unprocessable",
        "429": "TooManyRequests",
        "503": "Unavailable",
    }
    return {status: ref("responses", names[status]) for status in (*statuses, "429", "503")}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _read_security(resource: Resource) -> list[dict[str, list[str]]]:
    """Any one of the scopes that unlock the entity will do (requirements are alternatives)."""
    return [{"oauth2": [name]} for name in resource.read_scopes()] + [{"bearer": []}]


def _model(model: type[BaseModel], description: str | None = None) -> dict[str, Any]:
    """A JSON answer whose schema is the model's (one of `responses.MODELS`)."""
    return _json(ref("schemas", model.__name__), description or model.__doc__ or "")


# --- Paths ---------------------------------------------------------------------------------------

#: Either a token of the application's own (client_credentials) or any bearer token.
_ANY_TOKEN: list[dict[str, list[str]]] = [{"oauth2": []}, {"bearer": []}]


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    security: list[dict[str, list[str]]],
    responses: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """An operation object; `extra` adds its parameters, requestBody or description."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": security,
        **extra,
        "responses": responses,
    }


def _request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _data_of(items: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """The `{"data": [...]}` envelope of records (the column-driven answers)."""
    return {
        "type": "object",
        "required": ["data", *properties],
        "properties": {"data": {"type": "array", "items": items}, **properties},
        "additionalProperties": False,
    }


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA}


def _include_parameter(resource: Resource) -> list[dict[str, Any]]:
    if not resource.includes:
        return []
    return [
        {
            "name": "include",
            "in": "query",
            "description": "Related records to embed, comma-separated (at most 10); each"
            " needs its own scope.",
            "style": "form",
            "explode": False,
            "schema": {
                "type": "array",
                "items": {"type": "string", "enum": sorted(resource.includes)},
                "maxItems": 10,
                "uniqueItems": True,
            },
        }
    ]


def _fields_parameter(resource: Resource) -> dict[str, Any]:
    names = list(resource.fields)
    for include_name, include in sorted(resource.includes.items()):
        names += [f"{include_name}.{field}" for field in entity_fields(include.entity)]
    return {
        "name": "fields",
        "in": "query",
        "description": "Only these fields (a sparse fieldset), comma-separated; an included"
        " resource's as `include.field` (`contacts.email`). Each must be one the grant shares;"
        " `id` and `updated_at` always come. Without it, every field the grant shares.",
        "style": "form",
        "explode": False,
        "schema": {
            "type": "array",
            "items": {"type": "string", "enum": sorted(set(names))},
            "minItems": 1,
            "uniqueItems": True,
        },
    }


def _resource_paths(paths: dict[str, Any]) -> None:
    for name, resource in RESOURCES.items():
        entity = resource.entity
        obj = ref("schemas", schema_name(entity))
        includes = _include_parameter(resource)
        security = _read_security(resource)
        page = _data_of(
            obj,
            next={
                "type": ["string", "null"],
                "description": "The cursor of the next page, null at the end.",
            },
            sync_from={
                "type": "string",
                "format": "date-time",
                "description": responses.SYNC_FROM,
            },
        )
        paths[f"{PREFIX}/{name}"] = {
            "get": _operation(
                f"list_{entity}",
                f"List {name}",
                "Resources",
                security,
                {
                    "200": _json(
                        page,
                        "A page of records, in id order (or updated_at order with updated_after).",
                    ),
                    **_common("400", "401", "403"),
                },
                parameters=[
                    *(ref("parameters", f) for f in resource.filters),
                    *includes,
                    _fields_parameter(resource),
                ],
            )
        }
        paths[f"{PREFIX}/{name}/{{id}}"] = {
            "get": _operation(
                f"get_{entity}",
                f"One of {name}",
                "Resources",
                security,
                {"200": _json(obj, "The record."), **_common("400", "401", "403", "404")},
                parameters=[_path_id("id"), *includes, _fields_parameter(resource)],
            )
        }


def _school_and_deletions(paths: dict[str, Any]) -> None:
    paths[f"{PREFIX}/school"] = {
        "get": _operation(
            "get_school",
            "The token's school",
            "Resources",
            _ANY_TOKEN,
            {"200": _model(responses.School), **_common("401")},
        )
    }
    paths[f"{PREFIX}/deletions"] = {
        "get": _operation(
            "list_deletions",
            "What a copy must remove since a moment",
            "Resources",
            _ANY_TOKEN,
            {"200": _model(responses.DeletionList), **_common("400", "401")},
            description="Give `updated_after` to start, then each page's `next` as `cursor`"
            " until it is null. Each entry is one record to delete (`id`), one field to remove"
            " from every record of the resource (`field`), or, with neither, every record of"
            ' the resource. See docs/api.md, "Keeping a copy".',
            parameters=[
                ref("parameters", "updated_after"),
                ref("parameters", "cursor"),
                ref("parameters", "limit"),
            ],
        )
    }


def _management_paths(paths: dict[str, Any]) -> None:
    paths[f"{PREFIX}/access-requests"] = {
        "post": _operation(
            "create_access_request",
            "Ask a school for the application's scopes",
            "Management",
            _ANY_TOKEN,
            {
                "200": _model(responses.AccessRequest, "The pending request, as before."),
                "201": _model(responses.AccessRequest, "The new request."),
                "409": _error_response(
                    "nothing_to_request: the school already granted everything."
                ),
                **_common("400", "401", "404"),
            },
            description="Needs the application's own (client_credentials) token. Idempotent"
            " while the request is pending: asking again returns it with 200.",
            requestBody=_request_body(
                {
                    "type": "object",
                    "required": ["school_urn"],
                    "properties": {"school_urn": {"type": "string", "minLength": 1}},
                }
            ),
        )
    }
    paths[f"{PREFIX}/access-requests/{{request_id}}"] = {
        "delete": _operation(
            "withdraw_access_request",
            "Withdraw a pending request",
            "Management",
            _ANY_TOKEN,
            {"204": {"description": "Withdrawn."}, **_common("401", "404", "409")},
            parameters=[_path_id("request_id")],
        )
    }
    paths[f"{PREFIX}/connections"] = {
        "get": _operation(
            "list_connections",
            "Every school the application asked or was approved by",
            "Management",
            _ANY_TOKEN,
            {"200": _model(responses.ConnectionList, "The connections."), **_common("400", "401")},
            parameters=[
                _parameters()["updated_after"]
                | {"description": "Only connections that changed after this moment."}
            ],
        )
    }
    paths[f"{PREFIX}/connections/{{school_id}}"] = {
        "delete": _operation(
            "give_up_connection",
            "Give up the application's access to a school",
            "Management",
            _ANY_TOKEN,
            {"204": {"description": "Given up."}, **_common("401", "404")},
            parameters=[_path_id("school_id")],
        )
    }
    paths[f"{PREFIX}/connections/{{school_id}}/secret"] = {
        "post": _operation(
            "claim_school_secret",
            "Claim (or rotate) the school secret; shown once",
            "Management",
            _ANY_TOKEN,
            {"201": _model(responses.SchoolSecret, "The secret."), **_common("401", "404")},
            parameters=[_path_id("school_id")],
        )
    }


def _public_paths(paths: dict[str, Any]) -> None:
    csv = {
        "description": "One row per scope; fields separated by spaces.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
    for path, operation_id, summary, answer in [
        ("scopes", "list_scopes", "The scope catalogue", _model(responses.ScopeCatalogue)),
        ("scopes.csv", "scopes_csv", "The scope catalogue as CSV", csv),
        (
            "openapi.json",
            "openapi",
            "This document",
            _json({"type": "object"}, "The OpenAPI 3.1 document."),
        ),
    ]:
        paths[f"{PREFIX}/{path}"] = {
            "get": _operation(operation_id, summary, "Catalogue", [], {"200": answer, **_common()})
        }


def _written(entity: str, status: str, description: str, one: bool = False) -> dict[str, Any]:
    obj = ref("schemas", schema_name(entity))
    envelope = {
        "type": "object",
        "required": ["data", "writeback"],
        "properties": {
            "data": obj if one else {"type": "array", "items": obj},
            "writeback": ref("schemas", "WritebackStatus"),
        },
        "additionalProperties": False,
    }
    answer = _json(envelope, description)
    answer["headers"] = {"Cache-Control": ref("headers", "CacheControl")}
    if status in ("201", "202"):
        answer["headers"]["Location"] = ref("headers", "Location")
    return answer


_IDEMPOTENT = {
    "409": _error_response(
        "conflict: a request with the same Idempotency-Key is still being handled (or a"
        " concurrent write took the same record); retry shortly."
    ),
}
_QUEUED = (
    " The records are written at once, marked pending (`writeback`), and queued for the"
    " school's MIS; follow the write at the Location (GET /api/v1/writebacks/{id}) or wait"
    " for the `writeback.settled` webhook. A record the MIS rejects is deleted (it appears in"
    " /deletions)."
)


def _writeback_paths(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    for name, resource in CORRECTABLE.items():
        entity = resource.entity
        columns = columns_of(entity)
        required, optional = list(resource.required), list(resource.optional)
        security = [{"oauth2": [resource.scope]}, {"bearer": []}]
        idempotency = [ref("parameters", "IdempotencyKey")]
        if name in WRITEBACK_RESOURCES:
            write_schema = f"{schema_name(entity)}Write"
            schemas[write_schema] = {
                "type": "object",
                "title": f"A new {entity} record",
                "required": required,
                "properties": {
                    f: write_field_schema(columns[f], f in required) for f in [*required, *optional]
                },
                "additionalProperties": False,
            }
            batch = _data_of(ref("schemas", write_schema))
            batch["properties"]["data"] |= {"minItems": 1, "maxItems": MAX_BATCH}
            del batch["additionalProperties"]
            paths.setdefault(f"{PREFIX}/{resource.resource}", {})["post"] = _operation(
                f"create_{entity}",
                f"Write {name} back to the school's MIS",
                "Writeback",
                security,
                {
                    "201": _written(entity, "201", "The records as written, pending."),
                    "413": _error_response("request_too_large: too many objects in one batch."),
                    **_IDEMPOTENT,
                    **_common("400", "401", "403", "422"),
                },
                description="All or nothing: any problem answers 422 with every problem"
                " (`index`, `field`) and writes nothing. A field the school left out of the"
                " grant cannot be sent." + _QUEUED,
                parameters=idempotency,
                requestBody=_request_body(batch),
            )
        change_schema = f"{schema_name(entity)}Change"
        schemas[change_schema] = {
            "type": "object",
            "title": f"A correction of an {entity} record",
            "description": "Only the fields to change (JSON merge patch, RFC 7396): null"
            " clears an optional field.",
            "minProperties": 1,
            "properties": {
                f: write_field_schema(columns[f], f in required) for f in [*required, *optional]
            },
            "additionalProperties": False,
        }
        item = f"{PREFIX}/{resource.resource}/{{id}}"
        paths.setdefault(item, {})["patch"] = _operation(
            f"correct_{entity}",
            f"Correct one of {name} this application wrote",
            "Writeback",
            security,
            {
                "200": _written(entity, "200", "The record as corrected, pending.", one=True),
                **_IDEMPOTENT,
                **_common("400", "401", "403", "404", "422"),
            },
            description="Only a record this application wrote at this school (any other is"
            " 404, as if absent), and not one it has withdrawn." + _QUEUED,
            parameters=[_path_id("id"), *idempotency],
            requestBody={
                "required": True,
                "content": {
                    media: {"schema": ref("schemas", change_schema)}
                    for media in ("application/merge-patch+json", "application/json")
                },
            },
        )
        withdrawn = _json(
            {
                "type": "object",
                "required": ["writeback"],
                "properties": {"writeback": ref("schemas", "WritebackStatus")},
                "additionalProperties": False,
            },
            "Queued: the record stays, pending, until the MIS has deleted it.",
        )
        withdrawn["headers"] = {
            "Cache-Control": ref("headers", "CacheControl"),
            "Location": ref("headers", "Location"),
        }
        paths[item]["delete"] = _operation(
            f"withdraw_{entity}",
            f"Withdraw one of {name} this application wrote",
            "Writeback",
            security,
            {"202": withdrawn, **_IDEMPOTENT, **_common("401", "403", "404")},
            description="Only a record this application wrote at this school (any other is"
            " 404). Once the MIS has deleted it, it appears in /deletions.",
            parameters=[_path_id("id"), *idempotency],
        )
    _photo_path(paths)
    paths[f"{PREFIX}/writebacks/{{id}}"] = {
        "get": _operation(
            "get_writeback",
            "A write's state, and each record's",
            "Writeback",
            _ANY_TOKEN,
            {"200": _model(responses.WritebackStatus), **_common("401", "404")},
            description="A school token of the application that wrote, at that school.",
            parameters=[_path_id("id")],
        )
    }


def _photo_path(paths: dict[str, Any]) -> None:
    image = {"type": "string", "contentMediaType": "image/jpeg", "maxLength": MAX_PHOTO_BYTES}
    metadata = {
        "person_type": {"type": "string", "enum": ["student", "staff", "contact"]},
        "person_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "taken_on": {"type": "string", "format": "date"},
    }
    query = [
        {
            "name": name,
            "in": "query",
            "required": name != "taken_on",
            "description": "With a raw image body: " + name.replace("_", " ") + ".",
            "schema": schema,
        }
        for name, schema in metadata.items()
    ]
    paths.setdefault(f"{PREFIX}/{PHOTOS.resource}", {})["post"] = _operation(
        "create_photo",
        "Write a photo of a pupil, member of staff or contact to the school's MIS",
        "Writeback",
        [{"oauth2": [PHOTOS.scope]}, {"bearer": []}],
        {
            "201": _written("photo", "201", "The photo as kept, pending."),
            "413": _error_response(f"request_too_large: over {MAX_PHOTO_BYTES} bytes."),
            **_IDEMPOTENT,
            **_common("400", "401", "403", "422"),
        },
        description="A JPEG or PNG (checked by its content, not its name or Content-Type),"
        f" at most {MAX_PHOTO_BYTES} bytes, 16 to 6000 pixels a side, of a person the"
        " grant covers; multipart/form-data (the image as `photo`, the rest as fields) or"
        " the raw image with its Content-Type and the rest in the query. It is re-encoded"
        " without its metadata (EXIF, GPS); a person's photo replaces the one they had." + _QUEUED,
        parameters=[*query, ref("parameters", "IdempotencyKey")],
        requestBody={
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["photo", "person_type", "person_id"],
                        "properties": {"photo": image, **metadata},
                    }
                },
                "image/jpeg": {"schema": image},
                "image/png": {"schema": image | {"contentMediaType": "image/png"}},
            },
        },
    )


def _webhooks() -> dict[str, Any]:
    """What the server POSTs to an application's webhook URL: one entry per event type."""
    webhooks: dict[str, Any] = {}
    for event, model in EVENT_MODELS.items():
        webhooks[str(event)] = {
            "post": {
                "operationId": "webhook_" + str(event).replace(".", "_"),
                "summary": (model.__doc__ or str(event)).strip(),
                "description": "Signed as Standard Webhooks prescribes; see docs/webhooks.md.",
                "tags": ["Webhooks"],
                "security": [],
                "parameters": [ref("parameters", name) for name in _WEBHOOK_HEADERS],
                "requestBody": _request_body(ref("schemas", model.__name__)),
                "responses": {
                    "2XX": {
                        "description": "Received. Any 2xx, status line and headers within 5"
                        " seconds; anything else (a redirect included) is a failure, retried."
                    }
                },
            }
        }
    return webhooks


# --- The document --------------------------------------------------------------------------------


def build_document(issuer: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, with absolute OAuth URLs under the issuer.

    Needs an app context (the OAuth endpoints' paths come from `url_for`).
    """
    catalogue = default_catalogue()
    schemas = {schema_name(r.entity): entity_schema(r) for r in RESOURCES.values()}
    schemas |= model_schemas()
    paths: dict[str, Any] = {}
    _resource_paths(paths)
    _school_and_deletions(paths)
    _management_paths(paths)
    _public_paths(paths)
    _writeback_paths(paths, schemas)
    connector_paths(paths, schemas)
    token_url = issuer + url_for("oauth.token")
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "School data API",
            "version": API_VERSION,
            "description": "A school's MIS data, served as far as the school's grant allows,"
            " and the vendor's management API. See docs/api.md.",
        },
        "servers": [{"url": issuer}],
        "tags": [
            {"name": "Resources", "description": "A school's data (school tokens)."},
            {"name": "Management", "description": "The application's own calls."},
            {"name": "Writeback", "description": "Writing records to the school's MIS."},
            {"name": "Catalogue", "description": "Public descriptions of the API."},
            {"name": "Webhooks", "description": "What the server sends to the application."},
            {
                "name": "Connector",
                "description": "A school's MIS connector pushing its data (docs/connector.md).",
            },
        ],
        "paths": dict(sorted(paths.items())),
        "webhooks": _webhooks(),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": _responses(),
            "parameters": _parameters(),
            "headers": _headers(),
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "School tokens come from the code flow or the school-secret"
                    " grant; the management API takes a client_credentials token.",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": issuer + url_for("authorize.authorize"),
                            "tokenUrl": token_url,
                            "refreshUrl": token_url,
                            "scopes": {
                                s.name: s.description for s in catalogue if not s.deprecated
                            },
                        },
                        "clientCredentials": {"tokenUrl": token_url, "scopes": {}},
                    },
                },
                "bearer": {"type": "http", "scheme": "bearer"},
                "connector": {
                    "type": "oauth2",
                    "description": "A school's MIS connector: client_credentials with the"
                    " connector's client id and secret; the token serves /connector/v1 only.",
                    "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": {}}},
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The contract: public, and cacheable for five minutes."""
    issuer = current_app.config["SETTINGS"].issuer
    cache = current_app.extensions.setdefault("openapi_documents", {})
    if issuer not in cache:
        cache[issuer] = build_document(issuer)
    response = jsonify(cache[issuer])
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


__all__ = ["build_document", "column_schema", "entity_schema", "model_schemas"]
