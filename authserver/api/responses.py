"""The API's fixed-shape JSON answers, each defined once as a pydantic model: the views build
their answers through these, and the OpenAPI document takes its schemas from them.

The school's records (students, attendance ...) are not here: their shape follows the columns
and the grant, and they are written straight from rows (see `resources` and `registry`).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from authserver.api.registry import RESOURCES
from authserver.domain.encoding import Moment, Omissible
from authserver.web.errors import Error

#: What `sync_from` means, on every answer that carries it (lists, the deletions feed).
SYNC_FROM = (
    "Where the next sync starts: save the first page's as `since`, and ask with"
    " `updated_after=<since>` next time. A little before this page was read, and before the"
    " start of any write to the school's data still under way then, so that nothing committed"
    ' after this page is missed (docs/api.md, "Keeping a copy").'
)


class _Body(BaseModel):
    # What is not declared is never sent, and the schema says so (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")


# --- Errors ---------------------------------------------------------------------------------


class InsufficientScopeError(Error):
    """403 insufficient_scope: the grant does not cover the data (RFC 6750 §3.1)."""

    error: Literal["insufficient_scope"]
    scope: str = Field(description="Space-separated scopes, any one of which would do.")


class Problem(_Body):
    """One problem with one object of a batch."""

    index: int = Field(ge=0, description="The object's place in `data`, from 0.")
    field: str | None = Field(description="The field at fault, or null for the whole object.")
    message: str


class ValidationError(Error):
    """422: objects of a batch that failed validation; nothing was written."""

    errors: list[Problem]


# --- The vendor's management API -------------------------------------------------------------


class AccessRequest(_Body):
    """A Data Access Request as the vendor sees it."""

    id: int
    school_id: int
    school_urn: str
    status: str = Field(description="pending, approved, rejected or withdrawn.")
    required_scopes: list[str]
    optional_scopes: list[str]
    created_at: Moment
    updated_at: Moment


class Connection(_Body):
    """One school's connection as the vendor sees it."""

    school_id: int
    school_urn: str
    school_name: str
    status: str = Field(description="pending, approved, rejected, revoked, expired or withdrawn.")
    grant_version: int | None = Field(description="The grant's version while it is in force.")
    scopes: list[str]
    restrictions: dict[str, Any]
    expires_at: Moment | None
    pending_request: AccessRequest | None
    updated_at: Moment


class ConnectionList(_Body):
    """Every school the application asked or was approved by."""

    connections: list[Connection]
    sync_from: Moment = Field(
        description="The `updated_after` to ask with next time: a moment a little before"
        " this answer, so that a change still committing is not missed."
    )


class SchoolSecret(_Body):
    """A school secret, shown once."""

    school_id: int
    school_secret: str
    grant_version: int
    scope: str = Field(description="The space-separated scopes the secret's tokens carry.")
    previous_secret_valid_for_seconds: int


# --- The school and its deletions -------------------------------------------------------------


class SchoolSync(_Body):
    """How the school's MIS data is arriving, so that "no data yet" is told from "not allowed"."""

    state: Literal["no_data", "running", "ok", "failing", "stale", "paused"] = Field(
        description="no_data: nothing has arrived from the MIS yet; running: a sync is under"
        " way; ok; failing: the latest sync failed (the data is the last good sync's); stale:"
        " nothing good for over a day; paused: the school paused its sync (the year rollover),"
        " the data is as it was then."
    )
    last_success_at: Moment | None = Field(description="When the last good sync finished.")
    paused_at: Omissible[Moment] = Field(None, description="When the school paused its sync.")


class School(_Body):
    """The school's public data (PublicSchoolData: no consent needed) and its sync."""

    id: int
    name: str
    urn: str
    sync: SchoolSync


class Deletion(_Body):
    """Something a copy of the school's data must remove: one record (`id`), one field of
    every record of the resource (`field`), or, with neither, every record of the resource."""

    resource: str = Field(json_schema_extra={"enum": sorted(RESOURCES)})
    id: Omissible[int] = None
    field: Omissible[str] = None
    reason: Literal["deleted", "out_of_view", "left_out", "scope_withdrawn"] = Field(
        description=(
            "deleted: deleted in the school's MIS; out_of_view: its pupil, contact or member of"
            " staff is no longer in what the school shares (groups narrowed, left the school,"
            " past ThreeYearHistory's window); left_out: the school left the field (or the"
            " resource's every field) out; scope_withdrawn: no scope of the grant covers it"
            " any more."
        )
    )
    deleted_at: Moment


class DeletionList(_Body):
    """The deletions feed, oldest first; `next` is the cursor of the following page."""

    data: list[Deletion]
    next: str | None = None
    sync_from: Moment = Field(description=SYNC_FROM)


# --- Writeback ------------------------------------------------------------------------------


class WritebackItemStatus(_Body):
    """One record of a write, and how far it got."""

    index: int = Field(ge=0, description="The record's place in the request's `data`, from 0.")
    op: Literal["create", "update", "delete"]
    resource: str
    id: int = Field(description="The record's id in the read API.")
    state: Literal["queued", "applied", "rejected"] = Field(
        description="queued: on its way to the school's MIS; applied: the MIS has it;"
        " rejected: the MIS refused it (see `reason`); a created record is then deleted."
    )
    reason: str | None = Field(description="Why the MIS refused it; null unless rejected.")
    settled_at: Moment | None = Field(description="When it was applied or rejected.")


class WritebackStatus(_Body):
    """A write on its way to the school's MIS: its state, and each record's."""

    id: int
    resource: str
    state: Literal["queued", "applied", "rejected", "partly_applied"] = Field(
        description="queued while any record is; then applied (all), rejected (none) or"
        " partly_applied (some of each)."
    )
    created_at: Moment
    settled_at: Moment | None = Field(description="When the last record settled.")
    queued: int
    applied: int
    rejected: int
    items: list[WritebackItemStatus]


class PendingWrite(_Body):
    """On a record written through the API and not yet confirmed by the MIS (absent once it
    is): the write it came from, and what that write does to it."""

    id: int = Field(description="The write: GET /api/v1/writebacks/{id}.")
    state: Literal["queued"]
    op: Literal["create", "update", "delete"]


# --- The public catalogue ---------------------------------------------------------------------


class ScopeField(_Body):
    """A field a scope unlocks, with its plain-English label."""

    name: str
    label: str


class Scope(_Body):
    """The public description of one scope."""

    name: str
    category: str
    kind: str
    sensitive: bool
    consent_required: bool
    deprecated: bool
    description: str
    fields: list[ScopeField]


class ScopeCatalogue(_Body):
    """Every scope, with the fields it unlocks."""

    categories: list[str]
    scopes: list[Scope]


#: Every model the OpenAPI document publishes as a component, under its class name.
MODELS: tuple[type[BaseModel], ...] = (
    Error,
    InsufficientScopeError,
    ValidationError,
    AccessRequest,
    Connection,
    ConnectionList,
    SchoolSecret,
    SchoolSync,
    School,
    Deletion,
    DeletionList,
    Scope,
    ScopeCatalogue,
    WritebackStatus,
    PendingWrite,
)


def model_response(body: BaseModel, status: int = 200) -> Response:
    """A model as the JSON answer."""
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


def no_store(response: Response) -> Response:
    """Mark an answer as never to be kept by a browser or proxy (personal data, secrets)."""
    response.headers["Cache-Control"] = "no-store"
    return response
