"""A worker process killed (SIGKILL) in the middle of a job leaves nothing half-written, and the
job completes when another worker picks up its unacknowledged message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import JobState, School
from tests.conftest import app_config
from tests.jobs.conftest import ask_for, status_of, urns
from tests.live_processes import SOURCE_ROOT, wait_for

pytestmark = pytest.mark.live  # worker processes on the test's database

HEARTBEAT_TIMEOUT_SECONDS = 2  # how soon Redis hands a silent worker's messages to another


@pytest.fixture
def app_settings(fresh_redis: str, queue_prefix: str) -> dict[str, object]:
    return {
        "TASK_BROKER_URL": fresh_redis,
        "TASK_QUEUE_PREFIX": queue_prefix,
        "TASK_REDIS_HEARTBEAT_TIMEOUT_SECONDS": HEARTBEAT_TIMEOUT_SECONDS,
    }


def start_worker_process(app, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    """`flask jobs worker` in a process of its own, configured as the test's app is."""
    settings = app.config["SETTINGS"]
    config = app_config(
        settings.database_url,
        tmp_path / name,
        TASK_BROKER_URL=settings.task_broker_url,
        TASK_QUEUE_PREFIX=settings.task_queue_prefix,
        TASK_REDIS_HEARTBEAT_TIMEOUT_SECONDS=HEARTBEAT_TIMEOUT_SECONDS,
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "TASK_"))}
    environment.update({key: str(value) for key, value in config.items()})
    command = [sys.executable, "-m", "flask", "--app", "tests.jobs.job_kinds:make_app()"]
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(  # noqa: S603 (our own command)
            [*command, "jobs", "worker", "--threads", "1"],
            cwd=SOURCE_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def schools_with(app, wanted: list[str]) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(School).where(School.urn.in_(wanted))
        )


def test_a_job_killed_half_way_rolls_back_and_another_worker_completes_it(
    app, fresh_redis: str, tmp_path: Path
) -> None:
    signals = redis.Redis.from_url(fresh_redis, socket_timeout=90)  # BLPOP waits longer than 5 s
    keys = {"started_key": f"started-{uuid.uuid4().hex}", "go_key": f"go-{uuid.uuid4().hex}"}
    wanted = urns(3)
    payload = {"urns": wanted, "redis_url": fresh_redis, **keys}
    first = start_worker_process(app, tmp_path, "first")
    second = None
    try:
        job_id = ask_for(app, "test.make_schools", payload)
        # The first worker has written the schools in the job's open transaction, and waits.
        assert signals.blpop([keys["started_key"]], timeout=60) is not None, "never started"
        assert status_of(app, job_id).state == JobState.RUNNING
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

        killed = status_of(app, job_id)
        assert (killed.state, killed.attempts) == (JobState.RUNNING, 1)
        assert schools_with(app, wanted) == 0  # nothing half-written

        signals.rpush(keys["go_key"], "go")  # the second run may go straight on
        second = start_worker_process(app, tmp_path, "second")
        wait_for(lambda: status_of(app, job_id).finished, timeout=60, what="the job to be resumed")
        done = status_of(app, job_id)
        assert (done.state, done.attempts, done.result) == (
            JobState.SUCCEEDED,
            2,
            {"schools": 3},
        )
        assert schools_with(app, wanted) == 3  # once each
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        for log in sorted(tmp_path.glob("*.log")):  # shown should the test fail
            print(f"--- {log.name}\n{log.read_text()}")
    assert second.returncode == 0
