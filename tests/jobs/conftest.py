"""Fixtures for the job tests: real brokers (a Redis database and RabbitMQ queues of each
test's own), a Dramatiq worker in a thread, and helpers to ask for a job and read it back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest
import redis
from flask import Flask

from authserver import jobs
from authserver.domain import jobs as domain
from authserver.domain.jobs import JobStatus
from authserver.extensions import db
from tests.conftest import unavailable
from tests.jobs import job_kinds  # noqa: F401  (registers the test jobs)

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


def redis_url() -> str:
    """A Redis database of this xdist worker's own (1 to 15; 0 is left for development)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return f"redis://127.0.0.1:6379/{1 + int(worker or 0) % 15}"


@pytest.fixture
def fresh_redis() -> Iterator[str]:
    """This worker's Redis database, emptied before and after the test."""
    url = redis_url()
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as error:
        unavailable(f"Redis at {url} is unreachable: {error}")
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def queue_prefix() -> str:
    """Queue names no other test (nor xdist worker) uses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"test_{worker}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fresh_rabbitmq(queue_prefix: str) -> Iterator[str]:
    """RabbitMQ, with this test's queues deleted afterwards."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except pika.exceptions.AMQPError as error:
        unavailable(f"RabbitMQ at {RABBITMQ_URL} is unreachable: {error!r}")
    yield RABBITMQ_URL
    channel = connection.channel()
    for kind in ("jobs", "webhooks"):
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(f"{queue_prefix}_{kind}{suffix}")
    connection.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each real broker in turn."""
    return request.getfixturevalue(f"fresh_{request.param}")


@pytest.fixture
def start_worker() -> Iterator[Callable[[Flask], jobs.Worker]]:
    """`start_worker(app)`: Dramatiq's worker over the app's broker, in this process's
    threads, stopped after the test."""
    started: list[jobs.Worker] = []

    def start(app: Flask) -> jobs.Worker:
        worker = jobs.Worker(app, threads=2)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        worker.queue.broker.close()


def ask_for(app: Flask, kind: str, payload: dict[str, Any], school_id: int | None = None) -> int:
    """Ask for a job as a view would: in a unit of work that commits; its id."""
    with app.app_context():
        job = domain.enqueue(kind, payload, school_id=school_id)
        db.session.commit()
        return job.id


def status_of(app: Flask, job_id: int, **scope: Any) -> JobStatus | None:
    """The job as the admin's page reads it, in a fresh app context (its own connection)."""
    with app.app_context():
        return domain.job_status(job_id, **scope)


def urns(count: int) -> list[str]:
    """URNs no other test uses."""
    base = uuid.uuid4().int % 10**9
    return [f"9{base + n:09d}"[:16] for n in range(count)]
