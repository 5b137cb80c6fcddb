"""Background jobs: one row per piece of work the task queue carries, with its visible state."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow

MAX_MESSAGE_LENGTH = 300
MAX_ERROR_LENGTH = 500


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(db.Model):
    """A job (an ingest, later mail or deletion directives): written in the transaction that
    asks for it, run by a worker in one transaction of its own; its state, progress and
    outcome are written in plain English for the school's admin."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_school_id_created_at", "school_id", "created_at"),
        Index("ix_jobs_state_created_at", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for the platform's own work (not any one school's).
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    # The registered job function's name, e.g. "ingest.attendance".
    kind: Mapped[str] = mapped_column(String(64))
    # Ids and small values only, never objects: a job reads what it needs when it runs.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        Enum(
            JobState,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=JobState.QUEUED,
    )
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    # "Importing attendance: 120,000 of 260,000 marks".
    message: Mapped[str | None] = mapped_column(String(MAX_MESSAGE_LENGTH))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why it failed, in plain English; never a traceback (that goes to the operator's log).
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    # How many times a worker has started it (more than one: a worker died and another resumed).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
