"""Sync runs: each arrival of a school's MIS data (a connector's batch of changes or snapshot,
an imported file), recorded with what it did, answered the same way when retried, refused
while the school has paused its sync. Each function is a unit of work: it commits.

A batch of changes is applied at once. A snapshot takes batches (checked and staged) and is
applied when the connector commits it: inline when it is small, as a background job when it
holds more than one batch. Either way the school's data changes in one transaction, so a
vendor never sees half of it, and every connected application hears `school.data_changed`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authserver.domain import audit, ingest, jobs, views
from authserver.domain.audit import AuditAction
from authserver.domain.ingest import Changes, IngestRefused, Origin, Problem
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.connectors import Connector
from authserver.models.sync import (
    SchoolSync,
    StagedBatch,
    StagedRecord,
    SyncFile,
    SyncKind,
    SyncRun,
    SyncState,
)
from authserver.models.users import User

#: A run still "running" after this long was cut off (its process died): a retry may redo it.
STALE_AFTER = dt.timedelta(minutes=30)
#: Staged records written per statement batch when a batch is received.
STAGE_CHUNK = 5_000
#: Staged records read back per query when a snapshot is applied.
READ_CHUNK = 10_000

Actor = Connector | User | str


class SyncRefused(Exception):
    """A request about a sync that cannot be carried out now: `status` and `error` as the API
    answers, `description` in words for the connector's developer."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass(frozen=True)
class Answer:
    """What to answer a connector: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def digest_of(body: bytes) -> str:
    """The digest a batch is recognised by when it is sent again."""
    return hashlib.sha256(body).hexdigest()


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, Connector):
        return {"connector_id": actor.id}
    if isinstance(actor, User):
        return {"user_id": actor.id}
    return {}


def _audit_actor(actor: Actor) -> User | str:
    if isinstance(actor, Connector):
        return f"connector {actor.client_id}"
    return actor


# Pausing ---------------------------------------------------------------------------------


def pause_of(session: Session, school_id: int) -> SchoolSync | None:
    """The school's pause, if its sync is paused."""
    state = session.get(SchoolSync, school_id)
    return state if state is not None and state.paused_at is not None else None


def pause(session: Session, school_id: int, *, by: User, reason: str) -> None:
    """Pause the school's sync (over the year rollover): connectors are told to wait, and
    vendors keep the last good data, with the pause in the school's status."""
    reason = " ".join(reason.split())[:500]
    state = session.get(SchoolSync, school_id) or SchoolSync(school_id=school_id)
    session.add(state)
    if state.paused_at is not None:
        return
    state.paused_at, state.paused_by, state.pause_reason = utcnow(), by.email, reason or None
    audit.record(AuditAction.SYNC_PAUSED, actor=by, school=school_id, reason=reason)


def resume(session: Session, school_id: int, *, by: User) -> None:
    """Let the school's data flow again."""
    state = session.get(SchoolSync, school_id)
    if state is None or state.paused_at is None:
        return
    state.paused_at = state.paused_by = state.pause_reason = None
    audit.record(AuditAction.SYNC_RESUMED, actor=by, school=school_id)


def _refuse_if_paused(session: Session, school_id: int) -> None:
    paused = pause_of(session, school_id)
    if paused is not None:
        raise SyncRefused(
            409,
            "sync_paused",
            "The school has paused its sync"
            + (f" ({paused.pause_reason})" if paused.pause_reason else "")
            + "; nothing is accepted until it resumes. Try again later.",
        )


# Batches of changes ----------------------------------------------------------------------


def receive_changes(
    session: Session,
    school_id: int,
    batch_id: str,
    body: bytes,
    read: Any,
    *,
    actor: Actor,
) -> Answer:
    """Apply one batch of changes (`read()` turns the body into Changes), once: a retry of the
    same batch id with the same body is answered as the first time. Commits."""
    digest = digest_of(body)
    run = session.scalar(
        select(SyncRun).where(
            SyncRun.school_id == school_id,
            SyncRun.kind == SyncKind.CHANGES,
            SyncRun.external_id == batch_id,
        )
    )
    if run is not None:
        replay = _replay(run, digest, "batch")
        if replay is not None:
            return replay
    _refuse_if_paused(session, school_id)
    if run is None:
        run = SyncRun(
            school_id=school_id,
            kind=SyncKind.CHANGES,
            external_id=batch_id,
            **_actor_fields(actor),
        )
        session.add(run)
    _start(run, digest)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SyncRefused(
            409, "in_progress", "This batch is being applied already; ask again shortly."
        ) from None
    try:
        changes: Changes = read()
        run.entities = changes.entities()
        run.records_received = changes.size()
        _mark_writing(session, run)
        counts = ingest.apply(session, school_id, changes)
    except IngestRefused as refused:
        session.rollback()
        return _failed(session, run, refused, actor)
    except BaseException:
        session.rollback()
        _abandon(session, run)
        raise
    return _succeeded(session, run, counts, actor)


def _replay(run: SyncRun, digest: str, noun: str) -> Answer | None:
    """The first answer to a retried batch or snapshot; None when it should be (re)done."""
    if run.state is SyncState.RUNNING and run.started_at is not None:
        if utcnow() - run.started_at < STALE_AFTER:
            raise SyncRefused(
                409, "in_progress", f"This {noun} is being applied already; ask again shortly."
            )
        return None  # cut off by a crash: nothing of it was kept, so do it again
    if run.request_digest == digest and run.response_status is not None:
        return Answer(run.response_status, dict(run.response or {}))
    if run.state is SyncState.FAILED:
        return None  # a corrected batch under the same id: try again
    raise SyncRefused(
        409,
        "conflict",
        f"This {noun} id was used before for different content; give new content a new id.",
    )


def _start(run: SyncRun, digest: str) -> None:
    run.state = SyncState.RUNNING
    run.request_digest = digest
    run.started_at = utcnow()
    run.finished_at = None
    run.errors, run.counts, run.summary = [], {}, None
    run.response_status = run.response = None


def _abandon(session: Session, run: SyncRun) -> None:
    """An unexpected error: the run failed, in words for the school, nothing kept."""
    run = session.merge(run)
    run.state = SyncState.FAILED
    run.finished_at = utcnow()
    run.summary = "An internal error stopped this sync; nothing of it was kept."
    _written(session, run)
    session.commit()


def _failed(session: Session, run: SyncRun, refused: IngestRefused, actor: Actor) -> Answer:
    answer = _mark_failed(session, session.merge(run), refused, actor)
    session.commit()
    return answer


def _mark_failed(session: Session, run: SyncRun, refused: IngestRefused, actor: Actor) -> Answer:
    problems = [p.as_dict() for p in refused.problems]
    body = {
        "error": "invalid_request",
        "error_description": f"{len(problems)} problem(s); nothing was applied. "
        + refused.summary(),
        "errors": problems,
        "run": run.id,
    }
    run.state = SyncState.FAILED
    run.finished_at = utcnow()
    _written(session, run)
    run.errors = problems
    run.summary = refused.summary()
    run.response_status, run.response = 422, body
    audit.record(
        AuditAction.SYNC_FAILED,
        actor=_audit_actor(actor),
        school=run.school_id,
        run=run.id,
        kind=str(run.kind),
        problems=len(problems),
    )
    return Answer(422, body)


def _succeeded(
    session: Session, run: SyncRun, counts: Mapping[str, ingest.Counts], actor: Actor
) -> Answer:
    answer = _mark_succeeded(session, run, counts, actor)
    session.commit()
    return answer


def _mark_succeeded(
    session: Session, run: SyncRun, counts: Mapping[str, ingest.Counts], actor: Actor
) -> Answer:
    from authserver.domain import school_data_events

    run.state = SyncState.SUCCEEDED
    run.finished_at = utcnow()
    _written(session, run)
    run.counts = {entity: c.as_dict() for entity, c in counts.items()}
    body = {"run": run.id, "state": str(run.state), "counts": run.counts}
    if run.external_id is not None and run.kind is not SyncKind.IMPORT:
        body["id"] = run.external_id
    run.response_status, run.response = 200, body
    audit.record(
        AuditAction.SYNC_APPLIED,
        actor=_audit_actor(actor),
        school=run.school_id,
        run=run.id,
        kind=str(run.kind),
        counts={e: c for e, c in run.counts.items() if sum(c.values())},
    )
    school_data_events.announce(session, run.school_id, counts)
    return Answer(200, body)


# Writing the school's data ---------------------------------------------------------------


def _mark_writing(session: Session, run: SyncRun) -> None:
    """Say that the run is about to write the school's data, in a transaction of its own beside
    the run's, committed at once: until the data commits, vendors' `sync_from` stays before
    this moment (views.sync_from), so that nothing the run stamps is behind the next sync.

    Called before the run's transaction writes anything: on SQLite the one write lock is still
    free, and on PostgreSQL neither this row nor the school's sync row is locked yet (the
    ingest locks that row before it plans). An earlier attempt's marker that may still be
    writing stands."""
    with session.no_autoflush:  # the run's own pending changes must not take a lock first
        run_id = run.id
    table = SyncRun.__table__
    now = utcnow()
    with Session(bind=session.get_bind(), join_transaction_mode="create_savepoint") as side:
        side.execute(
            update(table)
            .where(
                table.c.id == run_id,
                or_(
                    table.c.writing_since.is_(None),
                    table.c.writing_since <= now - views.LONGEST_WRITE,
                ),
            )
            .values(writing_since=now)
        )
        side.commit()


def _written(session: Session, run: SyncRun) -> None:
    """The run writes no more: its marker goes in the caller's transaction, atomically with the
    data it wrote (or after that rolled back), and so go the markers that runs of the school
    which died left behind."""
    table = SyncRun.__table__
    session.execute(
        update(table)
        .where(
            table.c.school_id == run.school_id,
            table.c.writing_since.is_not(None),
            or_(table.c.id == run.id, table.c.writing_since <= utcnow() - views.LONGEST_WRITE),
        )
        .values(writing_since=None)
    )


# Snapshots -------------------------------------------------------------------------------


def open_snapshot(
    session: Session, school_id: int, snapshot_id: str, entities: Any, *, actor: Actor
) -> Answer:
    """Start (or find again) a snapshot of these entities. Commits."""
    if (
        not isinstance(entities, list)
        or not entities
        or not all(isinstance(e, str) for e in entities)
    ):
        raise SyncRefused(
            400, "invalid_request", 'Send {"entities": [...]}: the entities this snapshot holds.'
        )
    unknown = sorted(set(entities) - set(ingest.INGEST_ENTITIES))
    if unknown:
        raise SyncRefused(
            400, "invalid_request", f"Not entities this server holds: {', '.join(unknown[:5])}."
        )
    wanted = sorted(set(entities), key=ingest.INGEST_ENTITIES.index)
    run = _snapshot(session, school_id, snapshot_id)
    if run is not None:
        if run.entities != wanted:
            raise SyncRefused(
                409, "conflict", "This snapshot id was opened for other entities; use a new id."
            )
        return Answer(200, snapshot_status(session, run))
    _refuse_if_paused(session, school_id)
    run = SyncRun(
        school_id=school_id,
        kind=SyncKind.SNAPSHOT,
        state=SyncState.RECEIVING,
        external_id=snapshot_id,
        entities=wanted,
        whole=True,
        **_actor_fields(actor),
    )
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return open_snapshot(session, school_id, snapshot_id, entities, actor=actor)
    return Answer(201, snapshot_status(session, run))


def _snapshot(session: Session, school_id: int, snapshot_id: str) -> SyncRun | None:
    return session.scalar(
        select(SyncRun).where(
            SyncRun.school_id == school_id,
            SyncRun.kind == SyncKind.SNAPSHOT,
            SyncRun.external_id == snapshot_id,
        )
    )


def find_snapshot(session: Session, school_id: int, snapshot_id: str) -> SyncRun:
    """The school's snapshot with this id, or a 404 refusal."""
    run = _snapshot(session, school_id, snapshot_id)
    if run is None:
        raise SyncRefused(404, "not_found", "No snapshot with this id: open it first (PUT).")
    return run


def stage_batch(session: Session, run: SyncRun, batch_id: str, body: bytes, read: Any) -> Answer:
    """Check one batch of a snapshot and keep its records until the snapshot is committed.
    A retry with the same body is answered as the first time. Commits."""
    digest = digest_of(body)
    staged = session.scalar(
        select(StagedBatch).where(StagedBatch.run_id == run.id, StagedBatch.batch_id == batch_id)
    )
    if staged is not None:
        if staged.request_digest != digest:
            raise SyncRefused(
                409, "conflict", "This batch id was used before for other records; use a new id."
            )
        return Answer(200, {"batch": batch_id, "records": staged.records})
    if run.state is not SyncState.RECEIVING:
        raise SyncRefused(
            409, "conflict", f"This snapshot is {run.state}: it takes no more batches."
        )
    changes: Changes = read()
    problems: list[Problem] = []
    if changes.deletes:
        problems.append(
            Problem(
                "shape",
                "A snapshot holds records only: what it leaves out is removed when it is "
                "committed. Send deletions as a batch of changes.",
                batch=batch_id,
            )
        )
    for entity in changes.upserts:
        if entity not in run.entities:
            problems.append(
                Problem(
                    "unknown_entity",
                    f"This snapshot was opened for {', '.join(run.entities)}, not {entity}.",
                    entity=entity,
                    batch=batch_id,
                )
            )
    rows: list[dict[str, Any]] = []
    for entity, items in changes.upserts.items():
        for origin, record in items:
            _, found = ingest.clean_record(entity, origin, record)
            problems.extend(found)
            rows.append(
                {
                    "run_id": run.id,
                    "batch_id": batch_id,
                    "position": origin.index,
                    "entity": entity,
                    "record": record,
                }
            )
    if problems:
        raise IngestRefused(problems)
    session.add(
        StagedBatch(run_id=run.id, batch_id=batch_id, request_digest=digest, records=len(rows))
    )
    # A plain executemany: psycopg 3 pipelines it, which measured faster than SQLAlchemy's
    # multi-row "insertmanyvalues" (INSERT ... RETURNING) for these rows.
    for start in range(0, len(rows), STAGE_CHUNK):
        session.execute(StagedRecord.__table__.insert(), rows[start : start + STAGE_CHUNK])
    run.records_received = (run.records_received or 0) + len(rows)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return stage_batch(session, session.merge(run), batch_id, body, read)
    return Answer(201, {"batch": batch_id, "records": len(rows)})


def commit_snapshot(
    session: Session, run: SyncRun, *, allow_mass_deletion: bool, actor: Actor
) -> Answer:
    """Apply the snapshot: at once when it holds one batch's worth, else as a background job
    (202; its progress is in the snapshot's status). Commits."""
    if run.state is not SyncState.RECEIVING:
        return Answer(
            200 if run.state is SyncState.SUCCEEDED else 202, snapshot_status(session, run)
        )
    _refuse_if_paused(session, run.school_id)
    if not run.records_received:
        # An empty snapshot would remove every record of its entities: far likelier a batch
        # that was refused or never sent than a school with nothing left.
        raise SyncRefused(
            409,
            "conflict",
            "This snapshot holds no records (was a batch refused?); send its batches first.",
        )
    run.allow_mass_deletion = allow_mass_deletion
    return _apply_or_queue(session, run, actor)


def _apply_or_queue(session: Session, run: SyncRun, actor: Actor) -> Answer:
    """Apply a run's staged records now when they are one batch's worth, else queue a job that
    does (202). Commits."""
    if (run.records_received or 0) <= ingest.MAX_BATCH_RECORDS:
        _start(run, run.request_digest or "")
        session.commit()
        return _apply_snapshot(session, run, actor)
    run.state = SyncState.QUEUED
    job = jobs.enqueue(APPLY_JOB, {"run": run.id}, school_id=run.school_id)
    run.job_id = job.id
    session.commit()
    session.refresh(run)
    return Answer(202, snapshot_status(session, run))


APPLY_JOB = "sync.apply"


class RunRefused(jobs.JobFailed):
    """A staged run's records were refused: the job fails, and the run keeps the problems."""

    def __init__(self, refused: IngestRefused) -> None:
        super().__init__(refused.summary())
        self.refused = refused


def _record_refusal(payload: Mapping[str, Any], failure: jobs.JobFailed) -> None:
    """After a failed apply job rolled back: the run failed, with its problems."""
    session = db.session
    run = session.get(SyncRun, payload["run"])
    if run is None:
        return
    refused = (
        failure.refused
        if isinstance(failure, RunRefused)
        else IngestRefused([Problem("internal", failure.message)])
    )
    _mark_failed(session, run, refused, _run_actor(session, run))


@jobs.register(APPLY_JOB, on_failure=_record_refusal)
def _apply_job(context: jobs.JobContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a committed snapshot (or a confirmed import) in the background, in one
    transaction with the job's success; refused records fail the job and keep the run's
    problems."""
    session = db.session
    run = session.get(SyncRun, payload["run"])
    if run is None or run.state in (SyncState.SUCCEEDED, SyncState.FAILED):
        return {"run": payload["run"]}
    run.state, run.started_at = SyncState.RUNNING, utcnow()
    try:
        counts = _apply_staged(session, run, context.progress)
    except IngestRefused as refused:
        raise RunRefused(refused) from None
    _mark_succeeded(session, run, counts, _run_actor(session, run))
    return {"run": run.id, "counts": run.counts}


def _run_actor(session: Session, run: SyncRun) -> Actor:
    if run.connector_id is not None:
        connector = session.get(Connector, run.connector_id)
        if connector is not None:
            return connector
    if run.user_id is not None:
        user = session.get(User, run.user_id)
        if user is not None:
            return user
    return "the server"


def staged_changes(session: Session, run: SyncRun) -> Changes:
    """The records staged for a run, as Changes, in the order they were sent."""
    changes = Changes()
    query = (
        select(
            StagedRecord.id,
            StagedRecord.batch_id,
            StagedRecord.position,
            StagedRecord.entity,
            StagedRecord.op,
            StagedRecord.record,
        )
        .where(StagedRecord.run_id == run.id)
        .order_by(StagedRecord.id)
    )
    for _, batch_id, position, entity, op, record in session.execute(
        query.execution_options(yield_per=READ_CHUNK)
    ):
        origin = Origin(position, batch_id)
        if op == "delete":
            changes.deletes.setdefault(entity, []).append((origin, record.get("key")))
        else:
            changes.upserts.setdefault(entity, []).append((origin, record))
    return changes


def _apply_staged(
    session: Session,
    run: SyncRun,
    progress: ingest.Progress | None = None,
    *,
    dry_run: bool = False,
) -> dict[str, ingest.Counts]:
    """Apply (or, dry, count) a run's staged records in the caller's transaction."""
    from flask import current_app

    # Reading the staged records must not flush the run's own changes first: on SQLite that
    # write would take the lock for the whole check (see ingest.apply).
    with session.no_autoflush:
        changes = staged_changes(session, run)
    if not dry_run:
        _mark_writing(session, run)
    counts = ingest.apply(
        session,
        run.school_id,
        changes,
        snapshot=frozenset(run.entities) if run.whole else frozenset(),
        allow_mass_deletion=run.allow_mass_deletion,
        guard_percent=current_app.config["SETTINGS"].snapshot_deletion_guard_percent,
        progress=progress,
        merge=run.merge,
        dry_run=dry_run,
    )
    if not dry_run:
        if (run.records_received or 0) <= DROP_CHUNK:
            _drop_staged(session, run)
        else:
            # Removing a big snapshot's staged records would lengthen the transaction that
            # changes the school's data (SQLite's one write lock, which every vendor read
            # needs for its audit event): they go after it commits, a chunk at a time.
            jobs.enqueue(DROP_STAGED_JOB, {"run": run.id})
    return counts


def _apply_snapshot(
    session: Session, run: SyncRun, actor: Actor, progress: ingest.Progress | None = None
) -> Answer:
    try:
        counts = _apply_staged(session, run, progress)
    except IngestRefused as refused:
        session.rollback()
        return _failed(session, run, refused, actor)
    except BaseException:
        session.rollback()
        _abandon(session, run)
        raise
    return _succeeded(session, run, counts, actor)


def _drop_staged(session: Session, run: SyncRun) -> None:
    session.execute(StagedRecord.__table__.delete().where(StagedRecord.run_id == run.id))
    session.execute(SyncFile.__table__.delete().where(SyncFile.run_id == run.id))


DROP_STAGED_JOB = "sync.drop_staged"
#: Staged records removed per job (each its own short transaction).
DROP_CHUNK = 20_000


@jobs.register(DROP_STAGED_JOB)
def _drop_staged_job(_context: jobs.JobContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Remove an applied run's staged records, a chunk per short transaction of its own
    (removing what is no longer needed may stop part way: the job's rerun goes on)."""
    table = StagedRecord.__table__
    chunk = (
        select(table.c.id)
        .where(table.c.run_id == payload["run"])
        .order_by(table.c.id)
        .limit(DROP_CHUNK)
    )
    removed = 0
    while True:
        with Session(bind=db.session.get_bind(), join_transaction_mode="create_savepoint") as side:
            done = side.execute(table.delete().where(table.c.id.in_(chunk))).rowcount
            if done < DROP_CHUNK:
                side.execute(SyncFile.__table__.delete().where(SyncFile.run_id == payload["run"]))
            side.commit()
        removed += done
        if done < DROP_CHUNK:
            return {"run": payload["run"], "removed": removed}


def snapshot_status(session: Session, run: SyncRun) -> dict[str, Any]:
    """A snapshot's state as the connector sees it."""
    body: dict[str, Any] = {
        "id": run.external_id,
        "run": run.id,
        "state": str(run.state),
        "entities": run.entities,
        "records_received": run.records_received or 0,
        "batches": session.scalar(
            select(func.count()).select_from(StagedBatch).where(StagedBatch.run_id == run.id)
        ),
    }
    if run.state in (SyncState.SUCCEEDED, SyncState.FAILED):
        body["counts"] = run.counts
    if run.state is SyncState.FAILED:
        body["errors"] = run.errors
        body["summary"] = run.summary
    if run.job_id is not None:
        job = jobs.job_status(run.job_id)
        if job is not None:
            body["progress"] = {
                "done": job.progress_done,
                "total": job.progress_total,
                "message": job.message,
            }
    return body


# Health ----------------------------------------------------------------------------------


def recent_runs(session: Session, school_id: int, limit: int = 20) -> list[SyncRun]:
    """The school's latest runs, newest first."""
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.school_id == school_id)
            .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
    )


def entity_counts(session: Session, school_id: int, entities: Iterable[str]) -> dict[str, int]:
    """How many records of each entity the school's data holds now."""
    from sqlalchemy import inspect

    from authserver.models.mis import ENTITIES

    counts: dict[str, int] = {}
    for entity in entities:
        table = inspect(ENTITIES[entity]).local_table
        counts[entity] = (
            session.scalar(
                select(func.count()).select_from(table).where(table.c.school_id == school_id)
            )
            or 0
        )
    return counts


# Imported files ------------------------------------------------------------------------------

READ_JOB = "sync.read_file"
#: The preview's problems kept for the page (the apply reports them all again if need be).
PREVIEW_PROBLEMS = 50


def changes_of(parsed: Any) -> Changes:
    """A read file's records and deletions, as Changes (a record's index is its position)."""
    changes = Changes()
    for entity, records in parsed.entities.items():
        if records:
            changes.upserts[entity] = [(Origin(i), record) for i, record in enumerate(records)]
    for entity, keys in parsed.deletions.items():
        if keys:
            changes.deletes[entity] = [(Origin(i), key) for i, key in enumerate(keys)]
    return changes


def report_of(parsed: Any, school_urn: str) -> dict[str, Any]:
    """What the school is told about a read file before anything is applied."""
    warnings = list(parsed.notes)
    if parsed.school_urn and parsed.school_urn != school_urn and parsed.format == "oneroster":
        warnings.append(
            f"The file says it is for the school with URN {parsed.school_urn}, not {school_urn}."
        )
    return {
        "format": parsed.format,
        "mode": parsed.mode,
        "source": parsed.source,
        "unmapped": list(parsed.unmapped),
        "warnings": warnings,
        "records": {e: len(r) for e, r in parsed.entities.items() if r},
        "deletions": {e: len(k) for e, k in parsed.deletions.items() if k},
    }


def preview(
    session: Session,
    school_id: int,
    changes: Changes,
    *,
    whole: bool,
    allow_mass_deletion: bool = False,
) -> dict[str, Any]:
    """What applying would do (counts per entity), or the problems that stop it; writes
    nothing."""
    from flask import current_app

    entities = frozenset(changes.entities()) if whole else frozenset()
    try:
        counts = ingest.apply(
            session,
            school_id,
            changes,
            snapshot=entities,
            allow_mass_deletion=allow_mass_deletion,
            guard_percent=current_app.config["SETTINGS"].snapshot_deletion_guard_percent,
            merge=True,
            dry_run=True,
        )
    except IngestRefused as refused:
        return {"problems": [p.as_dict() for p in refused.problems[:PREVIEW_PROBLEMS]]}
    return {"counts": {e: c.as_dict() for e, c in counts.items()}}


def receive_file(
    session: Session, school_id: int, filename: str, content: bytes, *, actor: Actor
) -> SyncRun:
    """Keep an uploaded file and queue its reading (checked, staged, previewed); nothing is
    applied until the school confirms. Commits."""
    _refuse_if_paused(session, school_id)
    run = SyncRun(
        school_id=school_id,
        kind=SyncKind.IMPORT,
        state=SyncState.QUEUED,
        merge=True,
        report={"filename": (filename or "upload")[:200]},
        **_actor_fields(actor),
    )
    session.add(run)
    session.flush()
    session.add(SyncFile(run_id=run.id, filename=run.report["filename"], content=content))
    run.job_id = jobs.enqueue(READ_JOB, {"run": run.id}, school_id=school_id).id
    session.commit()
    return run


def _record_unreadable(payload: Mapping[str, Any], failure: jobs.JobFailed) -> None:
    session = db.session
    run = session.get(SyncRun, payload["run"])
    if run is None:
        return
    run.state, run.finished_at, run.summary = SyncState.FAILED, utcnow(), failure.message
    run.errors = [{"rule": "file", "message": failure.message}]
    session.execute(SyncFile.__table__.delete().where(SyncFile.run_id == run.id))


@jobs.register(READ_JOB, on_failure=_record_unreadable)
def _read_job(context: jobs.JobContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Read an uploaded file, stage its records and preview what applying would do."""
    from authserver import mis_files
    from authserver.models.organisations import School

    session = db.session
    run = session.get(SyncRun, payload["run"])
    upload = session.get(SyncFile, payload["run"])
    if run is None or upload is None or run.state is not SyncState.QUEUED:
        return {"run": payload["run"]}
    context.progress(0, None, f"Reading {upload.filename}")
    try:
        parsed = mis_files.read_file(upload.content, upload.filename)
    except mis_files.FileRefused as refused:
        raise jobs.JobFailed(str(refused)) from None
    school = session.get(School, run.school_id)
    changes = changes_of(parsed)
    run.whole = parsed.mode == "snapshot"
    run.entities = changes.entities()
    run.records_received = changes.size()
    rows: list[dict[str, Any]] = []
    for entity, items in changes.upserts.items():
        rows += [
            {
                "run_id": run.id,
                "batch_id": "",
                "position": origin.index,
                "entity": entity,
                "op": "upsert",
                "record": record,
            }
            for origin, record in items
        ]
    for entity, keys in changes.deletes.items():
        rows += [
            {
                "run_id": run.id,
                "batch_id": "",
                "position": origin.index,
                "entity": entity,
                "op": "delete",
                "record": {"key": key},
            }
            for origin, key in keys
        ]
    for start in range(0, len(rows), 5_000):
        session.execute(StagedRecord.__table__.insert(), rows[start : start + 5_000])
    context.progress(0, None, f"Checking {changes.size():,} records against the school's data")
    report = {"filename": upload.filename, **report_of(parsed, school.urn if school else "")}
    report["preview"] = preview(session, run.school_id, changes, whole=run.whole)
    run.report = report
    run.state = SyncState.RECEIVING
    session.execute(SyncFile.__table__.delete().where(SyncFile.run_id == run.id))
    return {"run": run.id}


def confirm_import(
    session: Session, run: SyncRun, *, actor: Actor, allow_mass_deletion: bool = False
) -> Answer:
    """Apply an import the school has looked at: at once when small, else in the background.
    Commits."""
    if run.kind is not SyncKind.IMPORT or run.state is not SyncState.RECEIVING:
        raise SyncRefused(409, "conflict", "This import is not waiting for a decision.")
    _refuse_if_paused(session, run.school_id)
    problems = run.report.get("preview", {}).get("problems", [])
    if any(p.get("rule") != "mass_deletion" for p in problems):
        raise SyncRefused(409, "conflict", "This file has problems: nothing can be applied.")
    if problems and not allow_mass_deletion:
        raise SyncRefused(409, "conflict", "Say that removing so much is intended.")
    run.allow_mass_deletion = allow_mass_deletion
    if isinstance(actor, User):
        run.user_id = actor.id
    return _apply_or_queue(session, run, actor)


def import_file_now(
    session: Session,
    school_id: int,
    filename: str,
    parsed: Any,
    *,
    actor: Actor,
    allow_mass_deletion: bool = False,
    progress: ingest.Progress | None = None,
) -> Answer:
    """Apply a read file at once, in this process (the operator's command). Commits."""
    _refuse_if_paused(session, school_id)
    changes = changes_of(parsed)
    run = SyncRun(
        school_id=school_id,
        kind=SyncKind.IMPORT,
        merge=True,
        whole=parsed.mode == "snapshot",
        entities=changes.entities(),
        records_received=changes.size(),
        allow_mass_deletion=allow_mass_deletion,
        **_actor_fields(actor),
    )
    session.add(run)
    _start(run, "")
    run.report = {k: v for k, v in report_of(parsed, "").items() if k not in ("warnings",)}
    session.commit()
    from flask import current_app

    try:
        _mark_writing(session, run)
        counts = ingest.apply(
            session,
            school_id,
            changes,
            snapshot=frozenset(run.entities) if run.whole else frozenset(),
            allow_mass_deletion=allow_mass_deletion,
            guard_percent=current_app.config["SETTINGS"].snapshot_deletion_guard_percent,
            merge=True,
            progress=progress,
        )
    except IngestRefused as refused:
        session.rollback()
        return _failed(session, run, refused, actor)
    except BaseException:
        session.rollback()
        _abandon(session, run)
        raise
    return _succeeded(session, run, counts, actor)
