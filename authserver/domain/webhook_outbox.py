"""The webhook outbox: events a vendor should hear of, written in the change's own transaction.

`enqueue` adds an event to `webhook_deliveries` beside the change it reports, so both commit or
neither does; nothing is sent here. Once that unit commits, a message for the delivery goes to
the task queue (`authserver.jobs`), whose worker signs and sends it (`authserver.webhooks`);
the outbox stays the record of what must be sent, and a periodic sweep re-sends the message
of any delivery left due (a lost message, a process that died before the broker heard).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from authserver.domain.jobs import DELIVER_WEBHOOK, send_after_commit
from authserver.domain.webhook_events import (
    AccessRequestApproved,
    AccessRequestRejected,
    ConnectionExpired,
    ConnectionExpiring,
    ConnectionRevoked,
    ConnectionScopesChanged,
    Envelope,
    EventData,
    SchoolDataChanged,
    WritebackSettled,
)
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.webhooks import WebhookDelivery, WebhookDeliveryStatus


class WebhookEvent(enum.StrEnum):
    ACCESS_REQUEST_APPROVED = "access_request.approved"
    ACCESS_REQUEST_REJECTED = "access_request.rejected"
    SCOPES_CHANGED = "connection.scopes_changed"
    REVOKED = "connection.revoked"
    EXPIRED = "connection.expired"
    EXPIRING = "connection.expiring"
    WRITEBACK_SETTLED = "writeback.settled"
    SCHOOL_DATA_CHANGED = "school.data_changed"


#: Each event's body, by its type (see `authserver.domain.webhook_events`).
EVENT_MODELS: dict[WebhookEvent, type[Envelope]] = {
    WebhookEvent.ACCESS_REQUEST_APPROVED: AccessRequestApproved,
    WebhookEvent.ACCESS_REQUEST_REJECTED: AccessRequestRejected,
    WebhookEvent.SCOPES_CHANGED: ConnectionScopesChanged,
    WebhookEvent.REVOKED: ConnectionRevoked,
    WebhookEvent.EXPIRED: ConnectionExpired,
    WebhookEvent.EXPIRING: ConnectionExpiring,
    WebhookEvent.WRITEBACK_SETTLED: WritebackSettled,
    WebhookEvent.SCHOOL_DATA_CHANGED: SchoolDataChanged,
}


def enqueue(
    application: Application, event: WebhookEvent, data: EventData | Mapping[str, Any]
) -> WebhookDelivery | None:
    """Add the event to the outbox in the caller's unit of work (it commits with the change it
    reports, or not at all); None when the application has no webhook URL. Sends nothing.

    `data` must be the event's data (its model, or a mapping it validates): pydantic raises
    ValidationError otherwise."""
    if not application.webhook_url:
        return None
    event = WebhookEvent(event)
    now = utcnow()
    event_id = uuid.uuid4().hex
    envelope = EVENT_MODELS[event].model_validate(
        {
            "id": event_id,
            "type": str(event),
            "created_at": now,
            "data": data.model_dump() if isinstance(data, EventData) else data,
        }
    )
    body = envelope.model_dump_json()
    delivery = WebhookDelivery(
        application=application,
        event_id=event_id,
        event_type=str(event),
        body=body,
        status=WebhookDeliveryStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    send_after_commit(DELIVER_WEBHOOK, delivery)
    return delivery


def latest_deliveries(application: Application, limit: int = 20) -> list[WebhookDelivery]:
    """The application's most recent deliveries, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.application_id == application.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def replay(delivery: WebhookDelivery) -> None:
    """Send the event again (same id and body), as soon as the worker next runs, with a fresh
    back-off schedule. Does not commit."""
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.delivered_at = None
    delivery.last_status_code = None
    delivery.last_error = None
    send_after_commit(DELIVER_WEBHOOK, delivery)
