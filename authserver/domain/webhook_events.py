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


class AccessRequestApprovedData(ConnectionData):
    """The grant the approval made, and the request it answered (absent when the school
    approved without one)."""

    request_id: Omissible[int] = None


class AccessRequestRejectedData(_Payload):
    """The request the school refused."""

    school_id: int
    school_urn: str
    request_id: int


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
    """A school approved a change of scopes: the grant's version rose."""

    type: Literal["connection.scopes_changed"]
    data: ConnectionData


class ConnectionRevoked(Envelope):
    """A school revoked the application's access."""

    type: Literal["connection.revoked"]
    data: ConnectionData


class ConnectionExpired(Envelope):
    """The school's approval reached its end date."""

    type: Literal["connection.expired"]
    data: ConnectionData


EventData = ConnectionData | AccessRequestApprovedData | AccessRequestRejectedData
