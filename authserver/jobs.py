"""The task queue: Dramatiq's broker from the settings, our actors, the worker and its sweep.

`TASK_BROKER_URL` names a Redis (`redis://`) or RabbitMQ (`amqp://`) broker, shared by the
web processes (which send) and any number of workers on any number of machines (which run
`flask --app wsgi jobs worker`). Messages carry ids only; the database holds the truth (the
`jobs` row, the webhook outbox), so a message lost or delivered twice costs nothing:

- A message is sent only after the transaction that wrote its row commits (a session event
  below), so no worker sees a job or delivery that was rolled back.
- A worker acknowledges a message only after its actor returns: a worker killed mid-job has
  its message redelivered, and the job, whose work was one uncommitted transaction, runs
  again from the start (`run_job`).
- The worker's sweep re-sends the message of any webhook delivery or job left waiting for
  longer than a grace period (a broker that lost it, a process that died between the commit
  and the send).

Without a broker (the embedded default, for `make run` and the tests) a job runs in the same
process, synchronously, as soon as the transaction that asked for it commits: deterministic,
and nothing more to start. Webhooks then wait in the outbox for `flask --app wsgi webhooks
deliver` or the worker command (which, without a broker, delivers what is due on a timer), as
they did before the queue: a slow receiver never holds up the person making the change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import logging
import signal
import threading
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries
from flask import Flask, current_app
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from authserver import mail_delivery, webhooks
from authserver.domain import jobs as domain
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.jobs import MAX_ERROR_LENGTH, MAX_MESSAGE_LENGTH, Job, JobState
from authserver.models.mail import OutboxMessage

log = logging.getLogger("authserver.jobs")

#: What a school admin reads when a job broke in a way it did not expect (the operator's log
#: has the traceback).
INTERNAL_ERROR = "The job stopped because of an internal error. Please try again later."
#: A delivery or job waiting this long past its time is taken to have lost its message.
DELIVERY_SWEEP_GRACE = dt.timedelta(minutes=2)
JOB_SWEEP_GRACE = dt.timedelta(minutes=15)
SWEEP_INTERVAL_SECONDS = 30.0
#: Without a broker the sweep is what sends webhooks, so it runs as often as the old loop did.
IN_PROCESS_SWEEP_INTERVAL_SECONDS = 5.0
WEBHOOK_TIMEOUT_SECONDS = 5.0
#: Dramatiq's own retries, for what our actors do not handle themselves (the database gone).
RETRY_MIN_BACKOFF_MS = 15_000
RETRY_MAX_BACKOFF_MS = 3_600_000
#: Messages of a worker silent this long go back to the queue for another worker.
REDIS_MAINTENANCE_CHANCE = 1_000_000
STOP_TIMEOUT_MS = 30_000


#: Modules whose `@register(kind)` job functions every process must know, the worker above all
#: (it runs what the web asked for): imported by `init_app`. The ingest adds its own here.
JOB_MODULES: tuple[str, ...] = ("authserver.sync_runs",)


@dataclasses.dataclass
class TaskQueue:
    """The app's broker and actors (`app.extensions["task_queue"]`)."""

    broker: dramatiq.Broker
    run_job: dramatiq.Actor[[int], None]
    deliver_webhook: dramatiq.Actor[[int, int], None]
    deliver_mail: dramatiq.Actor[[int], None]

    @property
    def in_process(self) -> bool:
        """No broker configured: jobs run here, after their transaction commits."""
        return isinstance(self.broker, StubBroker)

    def send(self, message_kind: str, *args: Any, delay: dt.timedelta | None = None) -> None:
        """Send one message; a broker that cannot be reached is logged, never raised: the
        sweep re-sends what is left waiting."""
        actor = {
            domain.RUN_JOB: self.run_job,
            domain.DELIVER_WEBHOOK: self.deliver_webhook,
            domain.DELIVER_MAIL: self.deliver_mail,
        }[message_kind]
        delay_ms = max(int(delay.total_seconds() * 1000), 0) if delay else None
        try:
            actor.send_with_options(args=args, delay=delay_ms)
        except Exception:
            log.exception("could not send %s%r to the task queue; the sweep will", actor, args)


def task_queue(app: Flask | None = None) -> TaskQueue:
    """The task queue of `app` (by default the current one)."""
    return (app or current_app).extensions["task_queue"]


def init_app(app: Flask) -> None:
    """Build the broker the settings name and declare our actors on it."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    settings = app.config["SETTINGS"]
    broker = _broker(settings.task_broker_url, settings.task_redis_heartbeat_timeout_seconds)
    prefix = settings.task_queue_prefix

    # One actor of each per app (not module-level decorators): tests build many apps, each
    # with its own broker, and an actor belongs to the broker it is declared on.
    def run_job_message(job_id: int) -> None:
        with app.app_context():
            run_job(job_id)

    def deliver_webhook_message(delivery_id: int, attempts: int) -> None:
        with app.app_context():
            outcome = webhooks.deliver_one(
                delivery_id, attempts, timeout_seconds=WEBHOOK_TIMEOUT_SECONDS
            )
            if outcome.retry_at is not None:
                # The back-off is ours (webhooks.backoff, recorded on the delivery), carried
                # by a delayed message rather than Dramatiq's retries.
                queue.send(
                    domain.DELIVER_WEBHOOK,
                    delivery_id,
                    attempts + int(outcome.failed),
                    delay=outcome.retry_at - utcnow(),
                )

    def deliver_mail_message(message_id: int) -> None:
        with app.app_context():
            outcome = mail_delivery.deliver_one(message_id)
            if outcome.retry_at is not None:
                # The back-off is ours (mail_delivery.backoff, recorded on the message).
                queue.send(domain.DELIVER_MAIL, message_id, delay=outcome.retry_at - utcnow())

    queue = TaskQueue(
        broker=broker,
        run_job=dramatiq.Actor(
            run_job_message,
            broker=broker,
            actor_name=domain.RUN_JOB,
            queue_name=f"{prefix}_jobs",
            priority=10,
            options={},
        ),
        deliver_webhook=dramatiq.Actor(
            deliver_webhook_message,
            broker=broker,
            actor_name=domain.DELIVER_WEBHOOK,
            queue_name=f"{prefix}_webhooks",
            priority=0,  # lower runs first: a short send should not wait behind an ingest
            options={},
        ),
        deliver_mail=dramatiq.Actor(
            deliver_mail_message,
            broker=broker,
            actor_name=domain.DELIVER_MAIL,
            queue_name=f"{prefix}_mail",
            priority=0,
            options={},
        ),
    )
    app.extensions["task_queue"] = queue
    _listen_for_commits()


def _broker(url: str, heartbeat_timeout_seconds: int) -> dramatiq.Broker:
    # Not Dramatiq's TimeLimit nor ShutdownNotifications: each raises inside a running job,
    # which would then record a failure; a job stopped half-way must instead roll back and be
    # run again, which is what an unacknowledged message gives.
    middleware = [
        AgeLimit(),
        Callbacks(),
        Pipelines(),
        Retries(min_backoff=RETRY_MIN_BACKOFF_MS, max_backoff=RETRY_MAX_BACKOFF_MS),
    ]
    if not url:
        return StubBroker(middleware=middleware)
    if urlsplit(url).scheme.startswith("redis"):
        from dramatiq.brokers.redis import RedisBroker

        # Dramatiq looks for dead workers on one command in a thousand by default, which on a
        # quiet queue leaves a killed worker's job waiting for hours: look on every command
        # (a sorted-set range query; cheap at our message rates).
        return RedisBroker(
            url=url,
            middleware=middleware,
            heartbeat_timeout=heartbeat_timeout_seconds * 1000,
            maintenance_chance=REDIS_MAINTENANCE_CHANCE,
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    # RabbitMQ redelivers a dead consumer's unacknowledged messages as soon as its connection
    # drops; publisher confirms make a send that returned a send the broker has.
    return RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)


# --- Sending after the commit ----------------------------------------------------------------


def _listen_for_commits() -> None:
    session_class = db.session.session_factory.class_
    if not event.contains(session_class, "before_commit", _before_commit):
        event.listen(session_class, "before_commit", _before_commit)
        event.listen(session_class, "after_commit", _after_commit)
        event.listen(session_class, "after_rollback", _after_rollback)


READY = "task_messages_ready"


def _before_commit(session: Session) -> None:
    if session.info.get(RUNNING_JOB):
        raise RuntimeError("a job function must not commit: the worker commits its work")
    pending = session.info.pop(domain.AFTER_COMMIT, None)
    if not pending:
        return
    session.flush()  # ids for new rows; what is read now is what commits
    ready = session.info.setdefault(READY, [])
    for message_kind, row in pending:
        if row.id is None:
            continue
        if message_kind == domain.DELIVER_WEBHOOK:
            ready.append((message_kind, row.id, row.attempts))
        else:
            ready.append((message_kind, row.id))


def _after_commit(session: Session) -> None:
    ready = session.info.pop(READY, None)
    if not ready:
        return
    queue = task_queue()
    for message_kind, *args in ready:
        if not queue.in_process:
            queue.send(message_kind, *args)
        elif message_kind == domain.RUN_JOB:
            # This session has just committed and can run no more SQL: the job gets an app
            # context, and so a session and a transaction, of its own.
            with current_app.app_context():
                run_job(*args)
        elif message_kind == domain.DELIVER_MAIL and _writes_mail_to_files():
            # Development's mail is a file written at once; real mail waits for the worker or
            # `mail send`, so a slow SMTP server never holds up a page.
            with current_app.app_context():
                mail_delivery.deliver_one(*args)


def _writes_mail_to_files() -> bool:
    return bool(current_app.config["SETTINGS"].mail_backend == "file")


def _after_rollback(session: Session) -> None:
    session.info.pop(domain.AFTER_COMMIT, None)
    session.info.pop(READY, None)


# --- Running a job ---------------------------------------------------------------------------

RUNNING_JOB = "running_job"
#: The first key of PostgreSQL's two-key advisory locks that mark a job being run.
JOB_LOCK_SPACE = 7301


class _Context:
    """The `JobContext` a job function gets: progress written beside its open transaction."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id

    def progress(self, done: int, total: int | None, message: str) -> None:
        _record(
            self.job_id,
            tolerate_lock=True,
            progress_done=done,
            progress_total=total,
            message=message[:MAX_MESSAGE_LENGTH],
        )


def run_job(job_id: int) -> None:
    """Run the job once, or not at all if it has finished or another worker is running it."""
    session = db.session
    if not _lock_job(job_id):
        log.info("job %s is being run by another worker; this message is a duplicate", job_id)
        session.rollback()
        return
    job = session.get(Job, job_id)
    if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED):
        session.rollback()
        return
    if job.state == JobState.RUNNING:
        # Its worker died (its lock is free): that work rolled back with it; start again.
        log.warning("job %s was left running by a worker that stopped; running it again", job_id)
    kind, payload = job.kind, dict(job.payload)
    _record(
        job_id,
        state=JobState.RUNNING,
        attempts=Job.attempts + 1,
        started_at=utcnow(),
        progress_done=0,
        message=None,
        error=None,
    )
    try:
        function = domain.job_function(kind)
        session.info[RUNNING_JOB] = job_id
        try:
            result = function(_Context(job_id), payload)
        finally:
            session.info.pop(RUNNING_JOB, None)
        # The work and the job's success commit together, or neither does.
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.SUCCEEDED,
                result=dict(result or {}),
                finished_at=utcnow(),
                progress_done=func.coalesce(Job.progress_total, Job.progress_done),
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except domain.JobFailed as failure:
        session.rollback()
        log.info("job %s (%s) failed: %s", job_id, kind, failure.message)
        _finish_failed(job_id, failure.message)
        _after_failure(job_id, kind, payload, failure)
    except domain.UnknownJobKind:
        session.rollback()
        log.error("job %s has kind %r, which no module registers", job_id, kind)
        _finish_failed(job_id, INTERNAL_ERROR)
    except Exception as error:
        session.rollback()
        log.error("job %s (%s) raised an unexpected error\n%s", job_id, kind, _traceback_of(error))
        _finish_failed(job_id, INTERNAL_ERROR)
        _after_failure(job_id, kind, payload, domain.JobFailed(INTERNAL_ERROR))
    else:
        log.info("job %s (%s) succeeded", job_id, kind)


def _after_failure(
    job_id: int, kind: str, payload: dict[str, Any], failure: domain.JobFailed
) -> None:
    """Let the kind record what its failure means, in a unit of work of its own."""
    hook = domain.failure_hook(kind)
    if hook is None:
        return
    try:
        hook(payload, failure)
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.error(
            "job %s (%s): recording its failure failed\n%s", job_id, kind, _traceback_of(error)
        )


def _traceback_of(error: BaseException) -> str:
    """Where the error arose, for the operator: the frames and each exception's type, but not
    its message, which may carry what it was handling (a URL's password, a pupil's name)."""
    trace = traceback.TracebackException.from_exception(error)
    parts: list[str] = []
    while trace is not None:
        parts.insert(0, "".join(trace.stack.format()) + f"{_type_name(trace.exc_type)}\n")
        trace = trace.__cause__ or trace.__context__
    return "Traceback (most recent call last), messages left out:\n" + "".join(parts)


def _type_name(exc_type: type[BaseException] | None) -> str:
    if exc_type is None:
        return "(unknown)"
    module = exc_type.__module__
    return exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"


def _lock_job(job_id: int) -> bool:
    """On PostgreSQL, take the job's advisory lock for this transaction, which is the job's own
    (False: another worker holds it, so the job is running there now). SQLite has one writer."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        db.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:space, :job)"),
            {"space": JOB_LOCK_SPACE, "job": job_id},
        )
    )


def _finish_failed(job_id: int, error: str) -> None:
    _record(job_id, state=JobState.FAILED, error=error[:MAX_ERROR_LENGTH], finished_at=utcnow())


def _record(job_id: int, *, tolerate_lock: bool = False, **values: Any) -> None:
    """Write `values` to the job in a short transaction of its own, beside the job's open one,
    so that the admin sees them at once.

    SQLite has one writer at a time: once a job has written, its transaction holds the lock
    until it commits. Progress (`tolerate_lock`) therefore does not wait for it: that update
    is skipped (the next one may get through; the final state always does). PostgreSQL
    locks rows, and the job's transaction does not touch its own row until it ends."""
    with _side_session() as side:
        sqlite = side.get_bind().dialect.name == "sqlite"
        try:
            if sqlite and tolerate_lock:
                side.execute(text("PRAGMA busy_timeout = 0"))
            side.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(**values, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            side.commit()
        except OperationalError as error:
            side.rollback()
            if not (tolerate_lock and sqlite and "locked" in str(error.orig)):
                raise
            log.debug("job %s: progress not recorded while the database was locked", job_id)
        finally:
            if sqlite and tolerate_lock:
                side.execute(text(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}"))


_SQLITE_BUSY_TIMEOUT_MS = 15_000  # as create_app's connect timeout


@contextlib.contextmanager
def _side_session() -> Iterator[Session]:
    """A session on its own connection (in a test's shared connection, its own savepoint)."""
    with Session(bind=db.session.get_bind(), join_transaction_mode="create_savepoint") as side:
        yield side


# --- The sweep and the worker ----------------------------------------------------------------


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Re-send the message of every webhook delivery and job left waiting past its grace;
    committed. Each is marked as just re-sent, so the next sweep leaves it a grace period.

    Without a broker there is no message to lose: deliver what is due, here and now."""
    moment = now or utcnow()
    queue = task_queue()
    reminded = remind_expiring_invitations(moment)
    if queue.in_process:
        counts = webhooks.deliver_due(timeout_seconds=WEBHOOK_TIMEOUT_SECONDS)
        mail = mail_delivery.deliver_due(now=moment)
        return {
            "deliveries": counts["delivered"] + counts["failed"],
            "jobs": 0,
            "mail": mail["sent"] + mail["failed"],
            "reminders": reminded,
        }
    overdue_mail = mail_delivery.due_ids(moment, limit=1000, older_than=DELIVERY_SWEEP_GRACE)
    overdue = webhooks.overdue_deliveries(moment, DELIVERY_SWEEP_GRACE)
    stale_jobs = list(
        db.session.scalars(
            select(Job.id)
            .where(Job.state == JobState.QUEUED, Job.updated_at <= moment - JOB_SWEEP_GRACE)
            .order_by(Job.id)
            .limit(1000)
        )
    )
    webhooks.mark_resent([delivery_id for delivery_id, _ in overdue], moment)
    if overdue_mail:
        # Marked as re-sent now, so that the next sweep gives the new message its grace.
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(overdue_mail), OutboxMessage.sent_at.is_(None))
            .values(next_attempt_at=moment)
            .execution_options(synchronize_session=False)
        )
    if stale_jobs:
        db.session.execute(
            update(Job)
            .where(Job.id.in_(stale_jobs))
            .values(updated_at=moment)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    for delivery_id, attempts in overdue:
        queue.send(domain.DELIVER_WEBHOOK, delivery_id, attempts)
    for job_id in stale_jobs:
        queue.send(domain.RUN_JOB, job_id)
    for message_id in overdue_mail:
        queue.send(domain.DELIVER_MAIL, message_id)
    if overdue or stale_jobs or overdue_mail:
        log.warning(
            "sweep re-sent %d webhook deliveries, %d jobs and %d emails",
            len(overdue),
            len(stale_jobs),
            len(overdue_mail),
        )
    return {
        "deliveries": len(overdue),
        "jobs": len(stale_jobs),
        "mail": len(overdue_mail),
        "reminders": reminded,
    }


def remind_expiring_invitations(now: dt.datetime | None = None) -> int:
    """Queue a reminder for each invitation ending within a day (committed); how many."""
    from authserver.domain import people

    issuer = current_app.config["SETTINGS"].issuer
    count = people.remind_expiring(
        db.session, link_for=lambda token: f"{issuer}/invitations/{token}", now=now or utcnow()
    )
    db.session.commit()
    return count


class Worker:
    """Dramatiq's worker over the app's broker, with the sweep on a timer beside it (one per
    process; sweeps of several processes overlap harmlessly)."""

    def __init__(self, app: Flask, *, threads: int = 4) -> None:
        self.app = app
        self.queue = task_queue(app)
        self.stopping = threading.Event()
        self.dramatiq = dramatiq.Worker(self.queue.broker, worker_threads=threads)
        self.interval = (
            IN_PROCESS_SWEEP_INTERVAL_SECONDS if self.queue.in_process else SWEEP_INTERVAL_SECONDS
        )
        self.sweeper = threading.Thread(target=self._sweep_forever, name="sweep", daemon=True)

    def start(self) -> None:
        self.dramatiq.start()
        self.sweeper.start()

    def stop(self) -> None:
        """Stop taking messages and let running ones finish (up to STOP_TIMEOUT_MS; a job
        still running then rolls back, and its message goes to another worker)."""
        self.stopping.set()
        self.dramatiq.stop(timeout=STOP_TIMEOUT_MS)
        self.sweeper.join(timeout=5)

    def join(self) -> None:
        """Wait until every message on our queues has been handled (for tests)."""
        for actor in (self.queue.run_job, self.queue.deliver_webhook, self.queue.deliver_mail):
            self.queue.broker.join(actor.queue_name)
        self.dramatiq.join()

    def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT (the command's main loop)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        self.start()
        self.stopping.wait()
        self.stop()

    def _sweep_forever(self) -> None:
        # The first sweep at start: what waited while no worker ran goes out at once.
        while True:
            with self.app.app_context():
                try:
                    sweep()
                except SQLAlchemyError:
                    db.session.rollback()
                    log.exception("the sweep failed; trying again in %g s", self.interval)
            if self.stopping.wait(self.interval):
                return
