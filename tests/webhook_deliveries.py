"""The webhook worker's tests share these: write an event to the outbox, run the worker at a
given moment, read a delivery back."""

from __future__ import annotations

import datetime as dt

from authserver import webhooks
from authserver.domain import webhook_outbox
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, WebhookDelivery
from authserver.models.columns import utcnow
from tests.webhook_receiver import connection_data

TIMEOUT = 0.5  # seconds the worker waits for an answer in these tests


def enqueue(app, application_id: int, event=WebhookEvent.REVOKED, **data) -> int:
    """Write an event to the outbox, committed as the change it reports would be; its id."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        delivery = webhook_outbox.enqueue(application, event, connection_data(**data))
        db.session.commit()
        return delivery.id if delivery is not None else None


def delivery_of(app, delivery_id: int) -> WebhookDelivery:
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        db.session.expunge(delivery)
        return delivery


def deliver(app, now: dt.datetime, **options) -> dict[str, int]:
    with app.app_context():
        return webhooks.deliver_due(now=now, timeout_seconds=TIMEOUT, **options)


def later(seconds: int = 1) -> dt.datetime:
    """A whole second just after now: everything enqueued so far is due."""
    return utcnow().replace(microsecond=0) + dt.timedelta(seconds=seconds)
