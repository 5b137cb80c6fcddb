"""The webhook worker's tests share these: write an event to the outbox, run the worker at a
given moment, read a delivery back, check a body against the OpenAPI document."""

from __future__ import annotations

import datetime as dt

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from authserver import webhooks
from authserver.domain import webhook_outbox
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, WebhookDelivery
from authserver.models.columns import utcnow
from tests.api.test_openapi import DOCUMENT_URI, _pointer
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


def assert_matches_document(client, body: dict) -> None:
    """The webhook body validates against the OpenAPI document's entry for its type."""
    document = client.get("/api/v1/openapi.json").get_json()
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    pointer = _pointer(
        "webhooks", body["type"], "post", "requestBody", "content", "application/json"
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}/schema"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, (body["type"], errors)
