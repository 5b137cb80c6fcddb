"""Job functions for the job tests, registered as production registers its own, and an app
factory for worker processes that must know them (`flask --app tests.jobs.job_kinds:make_app()`).

`test.make_schools` writes schools in the job's transaction, so a test can see whether the
work committed, rolled back or was left half-done. Told to, it pushes to a Redis list once it
has written them and then waits for the test's word on another (BLPOP: no sleeping, no race).
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask

from authserver import create_app
from authserver.domain.jobs import JobContext, JobFailed, register
from authserver.extensions import db
from authserver.models import School

SECRET_IN_ERROR = "password=hunter2-not-for-the-admin"


@register("test.make_schools")
def make_schools(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    urns = payload["urns"]
    context.progress(1, len(urns), f"Creating schools: 1 of {len(urns)}")
    for urn in urns:
        db.session.add(School(urn=urn, name=f"School {urn}", phase="primary"))
        db.session.flush()
    if payload.get("redis_url"):
        signals = redis.Redis.from_url(payload["redis_url"], socket_timeout=90)
        signals.rpush(payload["started_key"], context.job_id)
        if signals.blpop([payload["go_key"]], timeout=60) is None:
            raise RuntimeError("the test never said go")
    return {"schools": len(urns)}


@register("test.refuse")
def refuse(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    db.session.add(School(urn=payload["urn"], name="Never", phase="primary"))
    db.session.flush()
    raise JobFailed("The file is not a CTF file: its first line should be <CTfile>.")


@register("test.crash")
def crash(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    context.progress(0, None, "Starting")
    raise RuntimeError(f"connection refused ({SECRET_IN_ERROR})")


@register("test.commit")
def commit_itself(context: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    db.session.add(School(urn=payload["urn"], name="Committed early", phase="primary"))
    db.session.commit()
    return {}


@register("test.nothing")
def nothing(context: JobContext, payload: dict[str, Any]) -> None:
    return None


def make_app() -> Flask:
    """The app a worker process runs, configured from the environment, knowing these jobs."""
    return create_app()
