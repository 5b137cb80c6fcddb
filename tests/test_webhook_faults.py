"""A vendor's webhook receiver that hangs, fails or hangs up never holds up a school admin, and
gets every event, once, signed and in order, when it comes back; the worker is never held by it.

The receiver is a real HTTP server on loopback; time moves by passing `now` to the worker."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from authserver import webhooks
from authserver.domain import grants, webhook_outbox
from authserver.extensions import db
from authserver.models import AccessRequest, Application, Grant, GrantStatus, School
from authserver.models.columns import utcnow
from authserver.models.webhooks import WebhookDelivery, WebhookDeliveryStatus
from authserver.webhooks import verify_signature
from tests.api.test_openapi import DOCUMENT_URI, _pointer
from tests.oauth_flow import csrf_token, sign_in
from tests.webhook_receiver import Receiver, connection_data

TIMEOUT = 0.5  # seconds the worker gives a receiver in these tests
SECOND = dt.timedelta(seconds=1)
BROKEN = [
    pytest.param("hang", "no answer within 0.5 s", id="times-out"),
    pytest.param("500", "HTTP 500", id="answers-500"),
    pytest.param("close", "the connection was closed without an answer", id="hangs-up"),
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def hooked(app: Flask, make_app, receiver: Receiver) -> tuple[int, str]:
    """An application whose webhook points at the receiver: (application id, signing secret)."""
    application, _ = make_app(
        name="Lunchbox", required={"StudentLite": "Names."}, optional={"DietaryNeeds": "Meals."}
    )
    with app.app_context():
        secret = webhooks.set_webhook(db.session.get(Application, application.id), receiver.url)
        db.session.commit()
    return application.id, secret


@dataclass
class AdminBrowser:
    """A school admin's browser on the school's dashboard; each verb asserts that the
    receiver was not contacted while the admin's request ran."""

    client: FlaskClient
    receiver: Receiver
    urn: str

    def post_from(self, page_url: str, url: str, data: dict) -> None:
        html = self.client.get(page_url).get_data(as_text=True)
        connections = self.receiver.connections
        response = self.client.post(url, data={"csrf_token": csrf_token(html), **data})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        assert self.receiver.connections == connections, "the admin's request called the vendor"

    def approve(self, request_id: int) -> None:
        url = f"/schools/{self.urn}/requests/{request_id}"
        html = self.client.get(url).get_data(as_text=True)
        shared = re.findall(r'name="shared_fields" value="([^"]+)"', html)
        self.post_from(url, url, {"school": self.urn, "shared_fields": shared, "approve": "1"})

    def reject(self, request_id: int) -> None:
        url = f"/schools/{self.urn}/requests/{request_id}"
        self.post_from(url, url, {"school": self.urn, "deny": "1"})

    def revoke(self, grant_id: int) -> None:
        dashboard = f"/schools/{self.urn}"
        self.post_from(dashboard, f"{dashboard}/connections/{grant_id}/revoke", {})


def vendor_asks(app: Flask, application_id: int, school_id: int) -> int:
    """The vendor sends a Data Access Request (through the domain, as its API does); its id."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        request, _ = grants.request_access(
            application, db.session.get(School, school_id), actor=application
        )
        db.session.commit()
        return request.id


def outbox(app: Flask) -> list[WebhookDelivery]:
    """Every delivery, oldest first, detached."""
    with app.app_context():
        deliveries = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return deliveries


def just_after_now() -> dt.datetime:
    """A whole second after now: everything enqueued so far is due. Later moments in a test
    are this plus seconds, so events the admin causes meanwhile are due by then too."""
    return utcnow().replace(microsecond=0) + SECOND


def deliver(app: Flask, now: dt.datetime) -> dict[str, int]:
    with app.app_context():
        return webhooks.deliver_due(now=now, timeout_seconds=TIMEOUT)


@pytest.mark.parametrize(("mode", "error"), BROKEN)
def test_a_broken_receiver_never_holds_up_the_school_and_gets_everything_later(
    app: Flask, client, school, school_admin, hooked, receiver: Receiver, mode: str, error: str
) -> None:
    application_id, secret = hooked
    receiver.mode = mode
    sign_in(client, school_admin.email)
    admin = AdminBrowser(client, receiver, school.urn)

    # The school approves while the receiver is broken: done and committed, the event waits.
    admin.approve(vendor_asks(app, application_id, school.id))
    start = just_after_now()
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        assert grant.status == GrantStatus.ACTIVE
        grant_id = grant.id
    [approved] = outbox(app)
    assert (approved.event_type, approved.status) == ("access_request.approved", "pending")

    assert deliver(app, start) == {"delivered": 0, "failed": 1}
    [approved] = outbox(app)
    assert approved.status == WebhookDeliveryStatus.RETRYING
    assert (approved.attempts, approved.last_error) == (1, error)
    assert approved.next_attempt_at == start + 30 * SECOND
    assert approved.delivered_at is None

    # The school withdraws access, then refuses the vendor's next request, still unheard.
    admin.revoke(grant_id)
    with app.app_context():
        assert db.session.get(Grant, grant_id).status == GrantStatus.REVOKED
    assert deliver(app, start + 10 * SECOND) == {"delivered": 0, "failed": 1}  # the revocation
    assert deliver(app, start + 30 * SECOND) == {"delivered": 0, "failed": 1}  # approval, again
    second_request = vendor_asks(app, application_id, school.id)
    admin.reject(second_request)
    with app.app_context():
        assert db.session.get(AccessRequest, second_request).status == "rejected"
    assert deliver(app, start + 40 * SECOND) == {"delivered": 0, "failed": 2}

    # Nothing lost, nothing marked delivered: each waits its back-off.
    waiting = outbox(app)
    assert [d.event_type for d in waiting] == [
        "access_request.approved",
        "connection.revoked",
        "access_request.rejected",
    ]
    assert {d.status for d in waiting} == {WebhookDeliveryStatus.RETRYING}
    assert [d.attempts for d in waiting] == [2, 2, 1]
    assert [d.last_error for d in waiting] == [error] * 3
    assert [d.next_attempt_at - start for d in waiting] == [
        (30 + 60) * SECOND,
        (40 + 60) * SECOND,
        (40 + 30) * SECOND,
    ]
    assert all(d.delivered_at is None for d in waiting)
    assert receiver.answered == []

    # The receiver is back. Once all are due (the first retry moved it behind the others),
    # each event arrives exactly once, signed, in the order it happened.
    receiver.mode = "ok"
    back = start + 100 * SECOND
    assert deliver(app, back) == {"delivered": 3, "failed": 0}
    assert deliver(app, back + dt.timedelta(days=1)) == {"delivered": 0, "failed": 0}
    delivered = outbox(app)
    assert {d.status for d in delivered} == {WebhookDeliveryStatus.DELIVERED}
    assert [d.delivered_at for d in delivered] == [back] * 3
    assert [received.body for received in receiver.answered] == [d.body.encode() for d in delivered]
    for received, delivery in zip(receiver.answered, delivered, strict=True):
        assert received.headers["webhook-id"] == delivery.event_id
        assert verify_signature(secret, received.headers, received.body, now=back)


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_receiver_cannot_hold_the_worker_past_its_timeout(
    app: Flask, hooked, receiver: Receiver, mode: str
) -> None:
    """A silent receiver, or one trickling its answer a byte at a time (each byte well within
    the per-read timeout), is given up on after the timeout; the next event still goes out."""
    application_id, _ = hooked
    with app.app_context():
        application = db.session.get(Application, application_id)
        for n in range(2):
            webhook_outbox.enqueue(
                application, webhook_outbox.WebhookEvent.REVOKED, connection_data(grant_version=n)
            )
        db.session.commit()
    receiver.answers = [mode]  # the first event meets the bad receiver, the second a good one
    counts: dict[str, int] = {}
    finished = threading.Event()

    def work() -> None:
        counts.update(deliver(app, utcnow() + SECOND))
        finished.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        assert finished.wait(10), "the worker is still waiting on the receiver"
        assert not receiver.release.is_set()  # the receiver was still hanging or trickling
    finally:
        receiver.release.set()
        worker.join(10)
    assert counts == {"delivered": 1, "failed": 1}
    first, second = outbox(app)
    assert (first.status, first.last_error) == ("retrying", "no answer within 0.5 s")
    assert second.status == WebhookDeliveryStatus.DELIVERED


def test_real_deliveries_are_as_the_openapi_document_says(
    app: Flask, client, cli, school, school_admin, hooked, receiver: Receiver
) -> None:
    """A school approves, revokes, refuses, approves again and lets the approval lapse; every
    event the worker then posts matches the document's `webhooks` entry for its type."""
    application_id, _ = hooked
    sign_in(client, school_admin.email)
    admin = AdminBrowser(client, receiver, school.urn)
    admin.approve(vendor_asks(app, application_id, school.id))
    with app.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    admin.revoke(grant_id)
    admin.reject(vendor_asks(app, application_id, school.id))
    admin.approve(vendor_asks(app, application_id, school.id))
    with app.app_context():
        db.session.get(Grant, grant_id).expires_at = utcnow() - SECOND
        db.session.commit()
    assert cli.invoke(args=["grants", "expire"]).exit_code == 0
    assert deliver(app, utcnow() + dt.timedelta(minutes=1)) == {"delivered": 5, "failed": 0}

    document = client.get("/api/v1/openapi.json").get_json()
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    types = []
    for received in receiver.answered:
        body = json.loads(received.body)
        types.append(body["type"])
        operation = document["webhooks"][body["type"]]["post"]
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
        sent = {name.lower() for name in received.headers}
        for parameter in operation["parameters"]:
            name = parameter["$ref"].rsplit("/", 1)[-1]
            assert document["components"]["parameters"][name]["name"] in sent
        assert "2XX" in operation["responses"]
    assert types == [
        "access_request.approved",
        "connection.revoked",
        "access_request.rejected",
        "access_request.approved",
        "connection.expired",
    ]
