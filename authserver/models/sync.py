"""Sync runs: each arrival of a school's MIS data (a batch of changes, a full snapshot, an
imported file), what it changed and what went wrong; snapshots' staged records; pauses."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class SyncKind(enum.StrEnum):
    CHANGES = "changes"  # one batch of upserts and deletions, applied at once
    SNAPSHOT = "snapshot"  # every record of some entities, staged in batches, then applied
    IMPORT = "import"  # a CTF or OneRoster file


class SyncState(enum.StrEnum):
    RECEIVING = "receiving"  # a snapshot taking batches
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class SyncRun(db.Model):
    """One arrival of MIS data at a school, from its connector or a file, and its outcome."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        # A connector's batch or snapshot id names one run per school: retries find it.
        UniqueConstraint("school_id", "kind", "external_id"),
        Index("ix_sync_runs_school_id_created_at", "school_id", "created_at"),
        # Every read of a list or the deletions feed asks for its school's writes under way.
        Index("ix_sync_runs_school_id_writing_since", "school_id", "writing_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    connector_id: Mapped[int | None] = mapped_column(ForeignKey("connectors.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[SyncKind] = mapped_column(_enum(SyncKind))
    state: Mapped[SyncState] = mapped_column(_enum(SyncState))
    # The connector's batch or snapshot id, or the imported file's name.
    external_id: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the batch as sent, so that a retry is told apart from a different batch.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    entities: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The deletions a snapshot may make beyond the safety guard, when the request says so.
    allow_mass_deletion: Mapped[bool] = mapped_column(default=False)
    # Whether the run holds every record of its entities (a snapshot, a bulk file): what it
    # does not hold is removed.
    whole: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Whether a record's missing fields keep their values (files carry only some fields).
    merge: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An import's report: its format and source, what has no place yet, and the preview.
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    records_received: Mapped[int] = mapped_column(Integer, default=0)
    # Per entity: {"added": n, "changed": n, "removed": n, "unchanged": n}.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Problems as the API reports them (entity, batch, index, field, rule, message); the first
    # hundred are kept.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What went wrong, in a sentence for the school.
    summary: Mapped[str | None] = mapped_column(Text)
    # The answer given, so that a retried batch is answered as the first time.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # While the run writes the school's data: the moment it began, committed beside the write
    # before it stamps anything, and cleared in the transaction that commits the data (or
    # after it rolled back). Vendors' `sync_from` stays before it (see views.sync_from).
    writing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<SyncRun {self.id} {self.kind} {self.state}>"


class StagedBatch(db.Model):
    """A batch of a snapshot, received and checked, its records waiting in StagedRecord."""

    __tablename__ = "sync_staged_batches"
    __table_args__ = (UniqueConstraint("run_id", "batch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(200))
    request_digest: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StagedRecord(db.Model):
    """One record of a snapshot, as sent (checked for shape), until the snapshot is applied."""

    __tablename__ = "sync_staged_records"
    __table_args__ = (Index("ix_sync_staged_records_run_id_entity", "run_id", "entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    entity: Mapped[str] = mapped_column(String(50))
    # "upsert" (record is the record) or "delete" (record is {"key": ...}).
    op: Mapped[str] = mapped_column(String(10), default="upsert", server_default="upsert")
    record: Mapped[dict[str, Any]] = mapped_column(JSON)


class SyncFile(db.Model):
    """An uploaded file, kept until it has been read into its run's staged records."""

    __tablename__ = "sync_files"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchoolSync(db.Model):
    """A school's sync settings: whether it is paused (over the year rollover), by whom, why;
    and its data version, raised by every ingest (see `ingest.apply`)."""

    __tablename__ = "school_syncs"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_by: Mapped[str | None] = mapped_column(String(200))
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    data_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
