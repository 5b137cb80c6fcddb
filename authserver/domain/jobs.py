"""Background jobs in the domain's words: kinds of job, asking for one, and reading its state.

A job function is registered under a kind (`@register("ingest.attendance")`) and called by a
worker as `fn(context, payload) -> result`; it does all its work on `db.session` without
committing (the worker commits the work with the job's success, or rolls both back), reports
progress through `context.progress`, and raises `JobFailed` with a plain-English reason for
an expected failure. `enqueue` adds the job in the caller's unit of work; the message that
starts it is sent only once that unit commits (`authserver.jobs` listens for the commit), so
no worker ever sees a job that was rolled back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select

from authserver.extensions import db
from authserver.models.jobs import Job, JobState

#: Where a unit of work keeps what must be sent to the task queue once it commits: pairs of
#: (message kind, row), read by `authserver.jobs` after the commit, dropped on rollback.
AFTER_COMMIT = "task_messages_after_commit"
RUN_JOB = "run_job"
DELIVER_WEBHOOK = "deliver_webhook"
DELIVER_MAIL = "deliver_mail"


class JobFailed(Exception):
    """An expected failure, with the reason a school admin reads ("the file is not a CTF")."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobContext(Protocol):
    """What a running job may tell the world while its own transaction is still open."""

    job_id: int

    def progress(self, done: int, total: int | None, message: str) -> None:
        """Record how far it has got, seen at once by the admin (committed on its own)."""


JobFunction = Callable[[JobContext, dict[str, Any]], Mapping[str, Any] | None]

_KINDS: dict[str, JobFunction] = {}


class UnknownJobKind(LookupError):
    """No job function is registered under that kind."""


#: Per kind, what to record when a job fails: `hook(payload, failure)`, called after the job's
#: work has rolled back, in a unit of work of its own that the worker commits.
FailureHook = Callable[[Mapping[str, Any], "JobFailed"], None]
_ON_FAILURE: dict[str, FailureHook] = {}


def register(
    kind: str, *, on_failure: FailureHook | None = None
) -> Callable[[JobFunction], JobFunction]:
    """Register `fn(context, payload) -> result` as the function that runs jobs of `kind`;
    `on_failure` records, outside the rolled-back work, what the failure means (a sync run's
    problems)."""
    if on_failure is not None:
        _ON_FAILURE[kind] = on_failure

    def decorate(fn: JobFunction) -> JobFunction:
        existing = _KINDS.get(kind)
        if existing is not None and existing is not fn:
            same = (existing.__module__, existing.__qualname__) == (fn.__module__, fn.__qualname__)
            if not same:  # a module imported twice registers the same function again
                raise ValueError(f"job kind {kind!r} is already registered")
        _KINDS[kind] = fn
        return fn

    return decorate


def failure_hook(kind: str) -> FailureHook | None:
    """What to record when a job of `kind` fails, if anything."""
    return _ON_FAILURE.get(kind)


def job_function(kind: str) -> JobFunction:
    """The function registered for `kind` (UnknownJobKind when there is none)."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise UnknownJobKind(kind) from None


def send_after_commit(message_kind: str, row: Any) -> None:
    """Have `row`'s message (RUN_JOB, DELIVER_WEBHOOK, DELIVER_MAIL) sent once the caller's
    unit commits."""
    db.session.info.setdefault(AFTER_COMMIT, []).append((message_kind, row))


def enqueue(kind: str, payload: Mapping[str, Any], school_id: int | None = None) -> Job:
    """Ask for a job of `kind` in the caller's unit of work; it starts after the commit.

    The payload holds ids and small values (JSON), never objects. Raises UnknownJobKind."""
    job_function(kind)
    job = Job(
        school_id=school_id,
        kind=kind,
        payload=dict(payload),
        state=JobState.QUEUED,
        progress_done=0,
        attempts=0,
    )
    db.session.add(job)
    db.session.flush()  # the id, for the caller's page and the message
    send_after_commit(RUN_JOB, job)
    return job


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """A job as its school's admin sees it."""

    id: int
    school_id: int | None
    kind: str
    state: JobState
    progress_done: int
    progress_total: int | None
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)

    @property
    def percent_done(self) -> int | None:
        """Whole percent done, when the total is known."""
        if not self.progress_total:
            return 100 if self.state == JobState.SUCCEEDED else None
        return min(100, self.progress_done * 100 // self.progress_total)

    @classmethod
    def of(cls, job: Job) -> JobStatus:
        return cls(**{f.name: getattr(job, f.name) for f in dataclasses.fields(cls)})


def job_status(job_id: int, *, school_id: int | None = None) -> JobStatus | None:
    """The job's state now, or None if there is none (or, given `school_id`, not that
    school's: an admin sees only their own school's jobs)."""
    # populate_existing: a page polling a running job must see the worker's latest progress,
    # not what this session loaded before.
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or (school_id is not None and job.school_id != school_id):
        return None
    return JobStatus.of(job)


def school_jobs(school_id: int, *, limit: int = 20) -> list[JobStatus]:
    """The school's most recent jobs, newest first."""
    jobs = db.session.scalars(
        select(Job)
        .where(Job.school_id == school_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return [JobStatus.of(job) for job in jobs]
