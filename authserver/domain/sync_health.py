"""Sync health: how a school's MIS data is arriving, in one place for the school's dashboard,
its trust, connected vendors (`/api/v1/school`) and the operator (`flask mis status`)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authserver.models.columns import utcnow
from authserver.models.connectors import Connector
from authserver.models.sync import SchoolSync, SyncRun, SyncState

#: A school whose last good sync is older than this is stale (MIS agents sync at least daily).
STALE_AFTER = dt.timedelta(hours=26)


class Health(enum.StrEnum):
    NO_DATA = "no_data"  # nothing has ever arrived
    RUNNING = "running"
    OK = "ok"
    FAILING = "failing"  # the latest run failed
    STALE = "stale"  # nothing good for too long
    PAUSED = "paused"


#: What each state means, for a school admin.
HEALTH_WORDS = {
    Health.NO_DATA: "No data has arrived from the MIS yet.",
    Health.RUNNING: "A sync is running now.",
    Health.OK: "Data is arriving from the MIS.",
    Health.FAILING: "The latest sync failed; the data shown is from the last good one.",
    Health.STALE: "No data has arrived for over a day; check the MIS connector.",
    Health.PAUSED: "Sync is paused; applications see the data as it was when it paused.",
}


@dataclass(frozen=True)
class SyncHealth:
    """A school's sync, summed up."""

    state: Health
    last_success_at: dt.datetime | None
    last_run: SyncRun | None
    last_errors: list[dict[str, Any]] = field(default_factory=list)
    last_error_summary: str | None = None
    paused_at: dt.datetime | None = None
    paused_by: str | None = None
    pause_reason: str | None = None
    connectors: int = 0

    @property
    def words(self) -> str:
        return HEALTH_WORDS[self.state]

    def as_api(self) -> dict[str, Any]:
        """The part vendors see in /api/v1/school: no people, no errors' details."""
        body: dict[str, Any] = {
            "state": str(self.state),
            "last_success_at": self.last_success_at,
        }
        if self.paused_at is not None:
            body["paused_at"] = self.paused_at
        return body


def health_of(session: Session, school_id: int, now: dt.datetime | None = None) -> SyncHealth:
    """The school's sync health now."""
    now = now or utcnow()
    last_run = session.scalar(
        select(SyncRun)
        .where(SyncRun.school_id == school_id, SyncRun.state != SyncState.RECEIVING)
        .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    last_success_at = session.scalar(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.school_id == school_id, SyncRun.state == SyncState.SUCCEEDED
        )
    )
    if last_success_at is not None and last_success_at.tzinfo is None:
        last_success_at = last_success_at.replace(tzinfo=dt.UTC)
    last_failure = session.scalar(
        select(SyncRun)
        .where(SyncRun.school_id == school_id, SyncRun.state == SyncState.FAILED)
        .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    pause = session.get(SchoolSync, school_id)
    connectors = session.scalar(
        select(func.count())
        .select_from(Connector)
        .where(Connector.school_id == school_id, Connector.revoked_at.is_(None))
    )
    if pause is not None and pause.paused_at is not None:
        state = Health.PAUSED
    elif last_run is None:
        state = Health.NO_DATA
    elif last_run.state in (SyncState.RUNNING, SyncState.QUEUED):
        state = Health.RUNNING
    elif last_run.state is SyncState.FAILED:
        state = Health.FAILING
    elif connectors and (last_success_at is None or now - last_success_at > STALE_AFTER):
        # Only an agent is expected to sync nightly; a school that imports files does so when
        # it chooses.
        state = Health.STALE
    else:
        state = Health.OK
    return SyncHealth(
        state=state,
        last_success_at=last_success_at,
        last_run=last_run,
        last_errors=list(last_failure.errors[:5]) if last_failure is not None else [],
        last_error_summary=last_failure.summary if last_failure is not None else None,
        paused_at=pause.paused_at if pause is not None else None,
        paused_by=pause.paused_by if pause is not None else None,
        pause_reason=pause.pause_reason if pause is not None else None,
        connectors=connectors or 0,
    )
