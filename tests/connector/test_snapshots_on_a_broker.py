"""A snapshot larger than a batch, committed on a server with a real broker (Redis, then
RabbitMQ): the web process only queues it, and a Dramatiq worker applies it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authserver import jobs
from authserver.extensions import db
from authserver.models.mis.students import Student
from tests.connector.conftest import Agent, pupil, upn

pytestmark = pytest.mark.live  # the worker's threads read and write on their own connections


@pytest.fixture
def app_settings(broker_url: str, queue_prefix: str) -> dict[str, object]:
    return {"TASK_BROKER_URL": broker_url, "TASK_QUEUE_PREFIX": queue_prefix}


def test_a_worker_applies_a_large_snapshot(app, client, school, start_worker) -> None:
    assert not jobs.task_queue(app).in_process
    agent = Agent(app, client, school.id)
    records = [pupil(i, upn=upn(i % 1000, year=10 + i // 1000)) for i in range(10_001)]
    agent.call("PUT", "snapshots/term", {"entities": ["student"]})
    for number, start in enumerate(range(0, len(records), 5_000)):
        body = {"student": {"upsert": records[start : start + 5_000]}}
        assert agent.call("PUT", f"snapshots/term/batches/{number}", body).status_code == 201
    assert agent.call("POST", "snapshots/term/commit", {}).status_code == 202
    assert agent.call("GET", "snapshots/term").get_json()["state"] == "queued"
    start_worker(app).join()
    status = agent.call("GET", "snapshots/term").get_json()
    assert status["state"] == "succeeded", status
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Student).where(Student.school_id == school.id)
        )
    assert count == 10_001
