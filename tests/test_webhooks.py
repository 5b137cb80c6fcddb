"""Webhooks: events go to an outbox with the change, a worker sends them signed to a real HTTP
receiver on loopback, and a receiver that fails, hangs or hangs up gets them later."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authserver import webhooks
from authserver.domain import webhook_outbox
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, WebhookDelivery
from authserver.models.webhooks import WebhookDeliveryStatus
from authserver.webhooks import WebhookURLError, verify_signature
from tests.webhook_deliveries import deliver, delivery_of, enqueue, later
from tests.webhook_receiver import Receiver, connection_data, free_port

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


# --- Helpers -----------------------------------------------------------------------------------


@pytest.fixture
def hooked(app, vendor_app, receiver):
    """The vendor's application with its webhook pointed at the receiver: (id, secret)."""
    application, _ = vendor_app
    with app.app_context():
        secret = webhooks.set_webhook(db.session.get(Application, application.id), receiver.url)
        db.session.commit()
    return application.id, secret


# --- Enqueueing --------------------------------------------------------------------------------


def test_without_a_webhook_url_nothing_is_enqueued(app, vendor_app, receiver) -> None:
    application, _ = vendor_app
    assert enqueue(app, application.id) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_enqueue_sends_nothing_and_commits_with_the_caller(app, hooked, receiver) -> None:
    application_id, _ = hooked
    with app.app_context():
        application = db.session.get(Application, application_id)
        webhook_outbox.enqueue(application, WebhookEvent.REVOKED, connection_data())
        db.session.rollback()  # the change it reported did not happen
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    delivery_id = enqueue(app, application_id, WebhookEvent.ACCESS_REQUEST_APPROVED, request_id=7)
    delivery = delivery_of(app, delivery_id)
    assert delivery.status == WebhookDeliveryStatus.PENDING
    assert delivery.attempts == 0
    assert receiver.requests == []  # only the worker sends
    body = json.loads(delivery.body)
    assert body == {
        "id": delivery.event_id,
        "type": "access_request.approved",
        "created_at": body["created_at"],
        "data": connection_data(request_id=7),
    }
    assert len(delivery.event_id) == 32
    int(delivery.event_id, 16)
    created = dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(created - delivery.created_at) < dt.timedelta(milliseconds=1)


# --- Configuring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/events",
        "ftp://hooks.example.com/events",
        "/relative/path",
        "https://user:pass@hooks.example.com/events",
        "https://hooks.example.com/events#fragment",
        "https://hooks.example.com/with space",
        "https://hooks.example.com:port/events",
        "https://hooks.example.com/" + "x" * 500,
    ],
)
def test_a_webhook_url_must_be_https(app, vendor_app, url: str) -> None:
    application, _ = vendor_app
    with app.app_context():
        application = db.session.get(Application, application.id)
        with pytest.raises(WebhookURLError):
            webhooks.set_webhook(application, url)
        assert application.webhook_url is None
        assert application.webhook_secret_sealed is None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/events",
        "http://127.0.0.1:8080/events",
        "http://localhost/events",
        "http://[::1]:9000/events",
    ],
)
def test_https_or_loopback_http_is_accepted(app, vendor_app, url: str) -> None:
    application, _ = vendor_app
    with app.app_context():
        application = db.session.get(Application, application.id)
        assert webhooks.set_webhook(application, f"  {url} ").startswith("whsec_")
        assert application.webhook_url == url


def test_each_setting_issues_a_new_secret_kept_sealed(app, vendor_app) -> None:
    application, _ = vendor_app
    with app.app_context():
        application = db.session.get(Application, application.id)
        first = webhooks.set_webhook(application, "https://hooks.example.com/a")
        second = webhooks.set_webhook(application, "https://hooks.example.com/a")
        assert first != second
        assert len(base64.b64decode(second.removeprefix("whsec_"))) == 32
        sealed = application.webhook_secret_sealed
        assert second not in sealed
        assert second.removeprefix("whsec_") not in sealed
        assert webhooks.signing_secret(application) == second
        webhooks.remove_webhook(application)
        assert application.webhook_url is None
        assert application.webhook_secret_sealed is None


# --- Signing -----------------------------------------------------------------------------------


def test_a_delivery_is_signed_with_the_secret_shown(app, hooked, receiver) -> None:
    application_id, secret = hooked
    delivery_id = enqueue(app, application_id, WebhookEvent.REVOKED, grant_version=2)
    now = later()
    assert deliver(app, now) == {"delivered": 1, "failed": 0}

    [received] = receiver.requests
    assert received.path == "/hooks/school-data"
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    body = json.loads(received.body)
    assert body["id"] == headers["webhook-id"]
    assert body["type"] == "connection.revoked"
    assert body["data"] == connection_data(grant_version=2)
    assert verify_signature(secret, received.headers, received.body, now=now)

    tampered = received.body.replace(b'"grant_version":2', b'"grant_version":3')
    assert tampered != received.body
    assert not verify_signature(secret, received.headers, tampered, now=now)
    assert not verify_signature(webhooks.new_signing_secret(), received.headers, received.body)
    stale = now + dt.timedelta(seconds=301)
    assert not verify_signature(secret, received.headers, received.body, now=stale)
    early = now - dt.timedelta(seconds=301)
    assert not verify_signature(secret, received.headers, received.body, now=early)
    assert verify_signature(secret, received.headers, received.body, now=now + 300 * SECOND)
    forged_time = {**received.headers, "webhook-timestamp": str(int(now.timestamp()) + 60)}
    assert not verify_signature(secret, forged_time, received.body, now=now)
    assert not verify_signature(secret, {}, received.body, now=now)

    delivery = delivery_of(app, delivery_id)
    assert delivery.status == WebhookDeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 204
    assert delivery.last_error is None
    assert delivery.last_attempt_at == now
    assert delivery.delivered_at == now
    assert delivery.next_attempt_at is None


def test_verify_signature_takes_any_of_several_signatures(app, hooked, receiver) -> None:
    application_id, secret = hooked
    enqueue(app, application_id)
    now = later()
    deliver(app, now)
    [received] = receiver.requests
    headers = {name.lower(): value for name, value in received.headers.items()}
    rotated = {**headers, "webhook-signature": f"v1,b2xk {headers['webhook-signature']}"}
    assert verify_signature(secret, rotated, received.body, now=now)
    assert not verify_signature(secret, {**headers, "webhook-signature": "v1,b2xk"}, b"", now=now)


# --- Failures and back-off ---------------------------------------------------------------------


def test_a_500_then_a_timeout_then_success_with_back_off(app, hooked, receiver) -> None:
    application_id, secret = hooked
    delivery_id = enqueue(app, application_id)
    receiver.answers = ["500", "hang"]
    start = later()

    assert deliver(app, start) == {"delivered": 0, "failed": 1}
    first = delivery_of(app, delivery_id)
    assert first.status == WebhookDeliveryStatus.RETRYING
    assert (first.attempts, first.last_status_code, first.last_error) == (1, 500, "HTTP 500")
    assert first.last_attempt_at == start
    assert first.next_attempt_at == start + 30 * SECOND

    assert deliver(app, start + 29 * SECOND) == {"delivered": 0, "failed": 0}  # not yet due
    assert len(receiver.requests) == 1

    second_try = start + 30 * SECOND
    assert deliver(app, second_try) == {"delivered": 0, "failed": 1}
    second = delivery_of(app, delivery_id)
    assert second.status == WebhookDeliveryStatus.RETRYING
    assert second.attempts == 2
    assert second.last_status_code is None
    assert second.last_error == "no answer within 0.5 s"
    assert second.next_attempt_at == second_try + 60 * SECOND

    assert deliver(app, second_try + 59 * SECOND) == {"delivered": 0, "failed": 0}
    third_try = second_try + 60 * SECOND
    assert deliver(app, third_try) == {"delivered": 1, "failed": 0}
    third = delivery_of(app, delivery_id)
    assert third.status == WebhookDeliveryStatus.DELIVERED
    assert (third.attempts, third.last_status_code, third.last_error) == (3, 204, None)
    assert third.delivered_at == third_try

    # The same event each time: same id, same body, each signed afresh at its own time.
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {first.event_id}
    assert {r.body for r in receiver.requests} == {first.body.encode()}
    for received, moment in zip(receiver.requests, [start, second_try, third_try], strict=True):
        assert verify_signature(secret, received.headers, received.body, now=moment)


def test_failures_back_off_to_hourly_and_never_give_up(app, hooked, receiver) -> None:
    application_id, _ = hooked
    delivery_id = enqueue(app, application_id)
    receiver.answers = ["500"] * 12
    now = later()
    waits = []
    for _ in range(12):
        assert deliver(app, now) == {"delivered": 0, "failed": 1}
        delivery = delivery_of(app, delivery_id)
        assert delivery.status == WebhookDeliveryStatus.RETRYING
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600, 3600]
    assert deliver(app, now) == {"delivered": 1, "failed": 0}
    assert delivery_of(app, delivery_id).attempts == 13


def test_backoff_is_capped_at_an_hour() -> None:
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 7, 8, 9, 1000)] == [
        30,
        60,
        120,
        1920,
        3600,
        3600,
        3600,
    ]


def test_a_closed_connection_is_retried(app, hooked, receiver) -> None:
    application_id, _ = hooked
    delivery_id = enqueue(app, application_id)
    receiver.answers = ["close"]
    now = later()
    assert deliver(app, now) == {"delivered": 0, "failed": 1}
    delivery = delivery_of(app, delivery_id)
    assert delivery.status == WebhookDeliveryStatus.RETRYING
    assert delivery.last_error == "the connection was closed without an answer"
    assert deliver(app, delivery.next_attempt_at) == {"delivered": 1, "failed": 0}
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.event_id] * 2


def test_a_redirect_is_not_followed(app, hooked, receiver) -> None:
    application_id, _ = hooked
    delivery_id = enqueue(app, application_id)
    receiver.answers = ["redirect"]
    assert deliver(app, later()) == {"delivered": 0, "failed": 1}
    assert [r.path for r in receiver.requests] == ["/hooks/school-data"]
    delivery = delivery_of(app, delivery_id)
    assert (delivery.last_status_code, delivery.last_error) == (302, "HTTP 302")


def test_a_receiver_that_is_down_gets_its_events_when_back(app, vendor_app) -> None:
    application, _ = vendor_app
    port = free_port()  # nothing listens here yet
    with app.app_context():
        webhooks.set_webhook(
            db.session.get(Application, application.id), f"http://127.0.0.1:{port}/hooks"
        )
        db.session.commit()
    delivery_id = enqueue(app, application.id)
    assert deliver(app, later()) == {"delivered": 0, "failed": 1}
    delivery = delivery_of(app, delivery_id)
    assert delivery.last_error == webhooks.UNREACHABLE
    with Receiver(port) as receiver:
        assert deliver(app, delivery.next_attempt_at) == {"delivered": 1, "failed": 0}
        assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.event_id]


def test_a_delivery_waits_while_the_application_has_no_url(app, hooked, receiver) -> None:
    application_id, _ = hooked
    delivery_id = enqueue(app, application_id)
    with app.app_context():
        webhooks.remove_webhook(db.session.get(Application, application_id))
        db.session.commit()
    assert deliver(app, later()) == {"delivered": 0, "failed": 0}
    assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.PENDING
    with app.app_context():
        secret = webhooks.set_webhook(db.session.get(Application, application_id), receiver.url)
        db.session.commit()
    now = later()
    assert deliver(app, now) == {"delivered": 1, "failed": 0}
    [received] = receiver.requests
    assert verify_signature(secret, received.headers, received.body, now=now)


# --- Replay ------------------------------------------------------------------------------------


def test_replay_sends_a_delivered_event_again_with_the_same_id(app, hooked, receiver) -> None:
    application_id, secret = hooked
    delivery_id = enqueue(app, application_id)
    now = later()
    assert deliver(app, now) == {"delivered": 1, "failed": 0}
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        webhook_outbox.replay(delivery)
        db.session.commit()
    replayed = delivery_of(app, delivery_id)
    assert replayed.status == WebhookDeliveryStatus.PENDING
    assert replayed.attempts == 0
    assert replayed.delivered_at is None

    again = later(2)
    assert deliver(app, again) == {"delivered": 1, "failed": 0}
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == replayed.event_id
    assert first.body == second.body
    assert verify_signature(secret, second.headers, second.body, now=again)
    assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.DELIVERED


# --- The worker --------------------------------------------------------------------------------


def test_the_deliver_command_sends_what_is_due(app, cli, hooked, receiver) -> None:
    application_id, secret = hooked
    delivery_ids = [enqueue(app, application_id, grant_version=n) for n in range(3)]
    result = cli.invoke(args=["webhooks", "deliver", "--batches", "1"])
    assert result.exit_code == 0, result.output
    assert "3 delivered, 0 failed" in result.output
    assert len(receiver.requests) == 3
    for received in receiver.requests:
        assert verify_signature(secret, received.headers, received.body)
    for delivery_id in delivery_ids:
        assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.DELIVERED

    again = cli.invoke(args=["webhooks", "deliver", "--loop", "--batches", "2", "--interval", "0"])
    assert again.exit_code == 0, again.output
    assert len(receiver.requests) == 3


def test_a_batch_sends_at_most_its_limit(app, hooked, receiver) -> None:
    application_id, _ = hooked
    for n in range(3):
        enqueue(app, application_id, grant_version=n)
    now = later()
    assert deliver(app, now, limit=2) == {"delivered": 2, "failed": 0}
    assert deliver(app, now, limit=2) == {"delivered": 1, "failed": 0}
    # Oldest first.
    assert [json.loads(r.body)["data"]["grant_version"] for r in receiver.requests] == [0, 1, 2]


@pytest.mark.postgresql_only
@pytest.mark.live  # two connections, one holding a row lock the other skips
def test_two_workers_never_send_the_same_attempt(app, hooked, receiver) -> None:
    """On PostgreSQL a delivery another worker holds is skipped, not sent twice."""
    application_id, _ = hooked
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
    held_id = enqueue(app, application_id, grant_version=0)
    free_id = enqueue(app, application_id, grant_version=1)
    now = later()
    with app.app_context(), Session(db.engine) as other_worker:
        held = other_worker.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == held_id)
            .with_for_update(skip_locked=True)
        )
        assert held is not None  # the other worker has claimed it and is sending it
        assert deliver(app, now) == {"delivered": 1, "failed": 0}
        other_worker.rollback()
    assert [json.loads(r.body)["data"]["grant_version"] for r in receiver.requests] == [1]
    assert delivery_of(app, free_id).status == WebhookDeliveryStatus.DELIVERED
    assert delivery_of(app, held_id).status == WebhookDeliveryStatus.PENDING
    assert deliver(app, now) == {"delivered": 1, "failed": 0}
