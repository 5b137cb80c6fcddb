"""On a real broker (Redis, RabbitMQ) a job asked for in one process is run by a Dramatiq worker,
its progress seen from another connection while it runs; webhooks go the same way."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import redis

from authserver import jobs, webhooks
from authserver.domain import jobs as domain
from authserver.domain import webhook_outbox
from authserver.domain.jobs import AFTER_COMMIT
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, Job, JobState, WebhookDelivery
from authserver.models.columns import utcnow
from authserver.models.webhooks import WebhookDeliveryStatus
from tests.jobs.conftest import ask_for, redis_url, status_of, urns
from tests.webhook_deliveries import delivery_of, enqueue
from tests.webhook_receiver import Receiver, connection_data

pytestmark = pytest.mark.live  # a worker's threads read and write on their own connections


@pytest.fixture
def app_settings(broker_url: str, queue_prefix: str) -> dict[str, object]:
    return {"TASK_BROKER_URL": broker_url, "TASK_QUEUE_PREFIX": queue_prefix}


def test_a_worker_runs_the_job(app, start_worker, school) -> None:
    assert not jobs.task_queue(app).in_process
    wanted = urns(2)
    job_id = ask_for(app, "test.make_schools", {"urns": wanted}, school_id=school.id)
    assert status_of(app, job_id).state == JobState.QUEUED  # nothing ran in this process
    start_worker(app).join()
    status = status_of(app, job_id)
    assert (status.state, status.result, status.attempts) == (JobState.SUCCEEDED, {"schools": 2}, 1)


def test_a_failing_job_tells_the_admin_why(app, start_worker) -> None:
    job_id = ask_for(app, "test.refuse", {"urn": urns(1)[0]})
    start_worker(app).join()
    status = status_of(app, job_id)
    assert status.state == JobState.FAILED
    assert status.error.startswith("The file is not a CTF file")


def test_progress_is_seen_while_the_job_runs(app, start_worker, fresh_redis) -> None:
    signals = redis.Redis.from_url(fresh_redis, socket_timeout=90)  # BLPOP waits longer than 5 s
    keys = {"started_key": f"started-{uuid.uuid4().hex}", "go_key": f"go-{uuid.uuid4().hex}"}
    wanted = urns(2)
    job_id = ask_for(app, "test.make_schools", {"urns": wanted, "redis_url": fresh_redis, **keys})
    worker = start_worker(app)
    assert signals.blpop([keys["started_key"]], timeout=30) is not None
    # The job's transaction is open (its schools written, not committed): the admin's page,
    # on a connection of its own, sees how far it has got.
    running = status_of(app, job_id)
    assert running.state == JobState.RUNNING
    assert (running.progress_done, running.progress_total) == (1, 2)
    assert running.message == "Creating schools: 1 of 2"
    assert running.percent_done == 50
    assert not running.finished
    signals.rpush(keys["go_key"], "go")
    worker.join()
    assert status_of(app, job_id).state == JobState.SUCCEEDED


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def hooked(app, vendor_app, receiver):
    application, _ = vendor_app
    with app.app_context():
        secret = webhooks.set_webhook(db.session.get(Application, application.id), receiver.url)
        db.session.commit()
    return application.id, secret


def test_a_webhook_is_sent_by_the_worker_once_its_change_commits(
    app, hooked, receiver, start_worker
) -> None:
    application_id, secret = hooked
    delivery_id = enqueue(app, application_id, WebhookEvent.REVOKED, grant_version=3)
    assert receiver.requests == []  # the change's own process sends nothing
    start_worker(app).join()
    [received] = receiver.requests
    assert webhooks.verify_signature(secret, received.headers, received.body)
    delivery = delivery_of(app, delivery_id)
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.DELIVERED, 1)


def test_the_sweep_sends_a_delivery_whose_message_was_lost(
    app, hooked, receiver, start_worker
) -> None:
    application_id, _ = hooked
    with app.app_context():
        application = db.session.get(Application, application_id)
        delivery = webhook_outbox.enqueue(application, WebhookEvent.REVOKED, connection_data())
        db.session.info.pop(AFTER_COMMIT)  # the process died before the broker heard of it
        db.session.commit()
        delivery_id = delivery.id
    worker = start_worker(app)
    worker.join()
    assert receiver.requests == []  # no message: nothing was sent
    with app.app_context():
        # Within its grace the message may still be on its way: left alone.
        assert jobs.sweep() == {"deliveries": 0, "jobs": 0, "mail": 0, "reminders": 0}
        delivery = db.session.get(WebhookDelivery, delivery_id)
        delivery.next_attempt_at = utcnow() - jobs.DELIVERY_SWEEP_GRACE - dt.timedelta(seconds=1)
        db.session.commit()
        assert jobs.sweep() == {"deliveries": 1, "jobs": 0, "mail": 0, "reminders": 0}
        # Marked as re-sent: the next sweep gives the new message its grace.
        assert jobs.sweep() == {"deliveries": 0, "jobs": 0, "mail": 0, "reminders": 0}
    worker.join()
    assert len(receiver.requests) == 1
    assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.DELIVERED


def test_the_sweep_sends_a_job_whose_message_was_lost(app, start_worker) -> None:
    with app.app_context():
        job = domain.enqueue("test.nothing", {})
        db.session.info.pop(AFTER_COMMIT)
        db.session.commit()
        job_id = job.id
        assert jobs.sweep() == {"deliveries": 0, "jobs": 0, "mail": 0, "reminders": 0}
        job = db.session.get(Job, job_id)
        job.updated_at = utcnow() - jobs.JOB_SWEEP_GRACE - dt.timedelta(seconds=1)
        db.session.commit()
        assert jobs.sweep() == {"deliveries": 0, "jobs": 1, "mail": 0, "reminders": 0}
    start_worker(app).join()
    assert status_of(app, job_id).state == JobState.SUCCEEDED


def test_each_test_worker_has_its_own_redis_database() -> None:
    assert redis_url().startswith("redis://127.0.0.1:6379/")
