"""Each webhook event's payload, defined once: the outbox writes its bodies through these
models, and the OpenAPI document publishes their schemas under `webhooks`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from authserver.domain.encoding import MillisecondMoment, Omissible


class _Payload(BaseModel):
    # What is not declared is never sent, and the schema says so (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")


class GrantRestrictions(_Payload):
    """How the school narrowed what it shares; empty when nothing is in force any more."""

    group_ids: Omissible[list[int]] = Field(None, description="Only pupils of these groups.")
    class_ids: Omissible[list[int]] = Field(None, description="Only pupils of these classes.")
    excluded_fields: Omissible[list[str]] = Field(
        None, description="`entity.field` names left out."
    )


class ConnectionData(_Payload):
    """The school's grant to the application as it stands after the change."""

    school_id: int
    school_urn: str
    grant_version: int = Field(description="Rises each time the approved scopes change.")
    scopes: list[str] = Field(description="The scopes in force; empty once revoked or expired.")
    restrictions: GrantRestrictions


class Names(_Payload):
    """Scopes or `entity.field` names a change added and took away."""

    added: list[str] = Field(description="Newly in force.")
    removed: list[str] = Field(description="No longer in force.")


class Ids(_Payload):
    """Group or class ids a change added to the grant and took away from it."""

    added: list[int] = Field(description="Now among the pupils shared.")
    removed: list[int] = Field(description="No longer among the pupils shared.")


class FieldChanges(_Payload):
    """Details of the scopes in force that the school left out or shares again."""

    left_out: list[str] = Field(description="`entity.field` names no longer shared.")
    restored: list[str] = Field(description="`entity.field` names shared again.")


class EndDateChange(_Payload):
    """The consent's end before and after the change; null when it has none."""

    before: MillisecondMoment | None
    after: MillisecondMoment | None


class ConnectionChanges(_Payload):
    """What a new version of the grant changed, against the version before it."""

    previous_version: int
    narrowed: bool = Field(
        description="Whether the application can read less than before: when true every "
        "token and school secret of the grant stopped at once; ask for new ones."
    )
    scopes: Names
    excluded_fields: FieldChanges
    group_ids: Ids = Field(description="Year groups; none at all means the whole school.")
    class_ids: Ids = Field(
        description="Classes; none at all (and no groups) means the whole school."
    )
    expires_at: Omissible[EndDateChange] = Field(None, description="Present when the end moved.")


class ConnectionChangedData(ConnectionData):
    """The grant as it stands after the change, and what the change was."""

    changes: ConnectionChanges


class ConnectionExpiringData(ConnectionData):
    """The grant whose consent ends soon, and when."""

    expires_at: MillisecondMoment = Field(description="When the consent ends (UTC).")
    days_left: int = Field(description="Whole days left until then, rounded up.")


class AccessRequestApprovedData(ConnectionData):
    """The grant the approval made, and the request it answered (absent when the school
    approved without one)."""

    request_id: Omissible[int] = None


class AccessRequestRejectedData(_Payload):
    """The request the school refused."""

    school_id: int
    school_urn: str
    request_id: int


class WritebackSettledData(_Payload):
    """A write whose every record the school's MIS has now applied or rejected."""

    school_id: int
    school_urn: str
    writeback_id: int = Field(description="GET /api/v1/writebacks/{id} gives each record's state.")
    resource: str
    state: Literal["applied", "rejected", "partly_applied"] = Field(
        description="applied: every record; rejected: none; partly_applied: some of each."
    )
    applied: int = Field(description="Records the MIS applied.")
    rejected: int = Field(description="Records the MIS rejected (each with its reason).")


class EntityChange(_Payload):
    """How many records of one entity a sync added, changed and removed."""

    added: int
    changed: int
    removed: int


class SchoolDataChangedData(_Payload):
    """What a sync changed in the school's data, as far as the connection can read it."""

    school_id: int = Field(description="The school's id, as in the school's token.")
    school_urn: str = Field(description="The school's URN.")
    entities: list[str] = Field(
        description="The entities with changes the application may read: ask for them with "
        "`updated_after`, and read `/deletions`."
    )
    counts: Omissible[dict[str, EntityChange]] = Field(
        None,
        description="Per entity, the school's whole change, for connections that see the whole "
        "school; left out when the connection is narrowed to some pupils (the school-wide "
        "numbers would say something of pupils it does not cover).",
    )


class Envelope(_Payload):
    """What every event carries around its `data`."""

    id: str = Field(
        pattern="^[0-9a-f]{32}$",
        description="The event's id, also the webhook-id header; the same on every retry.",
    )
    # Declared here so that it keeps its place after `id`; each event narrows it to its own.
    type: str
    created_at: MillisecondMoment = Field(description="When the change happened (UTC).")


class AccessRequestApproved(Envelope):
    """A school approved the application's Data Access Request."""

    type: Literal["access_request.approved"]
    data: AccessRequestApprovedData


class AccessRequestRejected(Envelope):
    """A school rejected the application's Data Access Request."""

    type: Literal["access_request.rejected"]
    data: AccessRequestRejectedData


class ConnectionScopesChanged(Envelope):
    """The connection changed in place and the grant's version rose: a school approved more,
    or changed what it shares, or the application stopped asking for a scope; `changes` says
    what."""

    type: Literal["connection.scopes_changed"]
    data: ConnectionChangedData


class ConnectionRevoked(Envelope):
    """A school revoked the application's access."""

    type: Literal["connection.revoked"]
    data: ConnectionData


class ConnectionExpired(Envelope):
    """The school's approval reached its end date."""

    type: Literal["connection.expired"]
    data: ConnectionData


class ConnectionExpiring(Envelope):
    """The school's approval ends within 30 (then 7) days: sent once for each."""

    type: Literal["connection.expiring"]
    data: ConnectionExpiringData


class WritebackSettled(Envelope):
    """Every record of a write reached the school's MIS or was refused by it."""

    type: Literal["writeback.settled"]
    data: WritebackSettledData


class SchoolDataChanged(Envelope):
    """New MIS data arrived at the school (from its connector or an imported file) and changed
    records the application may read."""

    type: Literal["school.data_changed"]
    data: SchoolDataChangedData


EventData = (
    SchoolDataChangedData
    | ConnectionData
    | ConnectionChangedData
    | ConnectionExpiringData
    | AccessRequestApprovedData
    | AccessRequestRejectedData
    | WritebackSettledData
)
