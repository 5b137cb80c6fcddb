"""The connector API's fixed-shape answers, as pydantic models: the OpenAPI document's schemas
and the tests' check that what is sent is what is documented."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from authserver.domain.encoding import Moment, Omissible


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestCounts(_Body):
    """What a run did to one entity's records."""

    added: int
    changed: int
    removed: int
    unchanged: int


class IngestResult(_Body):
    """A batch (or snapshot) applied: the run's number and what it did per entity."""

    run: int = Field(description="The sync run, as the school's dashboard lists it.")
    state: Literal["succeeded"]
    counts: dict[str, IngestCounts]
    id: Omissible[str] = Field(None, description="The batch or snapshot id sent.")


class IngestProblem(_Body):
    """One thing wrong: where (batch, entity, record index, field) and the rule it broke."""

    rule: str = Field(
        description="upn, key, required, unknown_field, unknown_entity, unknown_link,"
        " duplicate, text, integer, number, boolean, date, time, moment, link, shape, json,"
        " too_many or mass_deletion."
    )
    message: str
    entity: Omissible[str] = None
    index: Omissible[int] = Field(None, description="The record's position in its entity's list.")
    field: Omissible[str] = None
    batch: Omissible[str] = None


class IngestProblems(_Body):
    """Nothing was applied: every problem found (the first hundred)."""

    error: Literal["invalid_request"]
    error_description: str
    errors: list[IngestProblem]
    run: Omissible[int] = None


class SnapshotProgress(_Body):
    done: int
    total: int
    message: str | None = None


class SnapshotStatus(_Body):
    """A snapshot: receiving batches, queued or running once committed, then its outcome."""

    id: str
    run: int
    state: Literal["receiving", "queued", "running", "succeeded", "failed"]
    entities: list[str]
    records_received: int
    batches: int
    counts: Omissible[dict[str, IngestCounts]] = None
    errors: Omissible[list[IngestProblem]] = None
    summary: Omissible[str | None] = None
    progress: Omissible[SnapshotProgress] = None


class ConnectorSchool(_Body):
    urn: str
    name: str


class ConnectorSync(_Body):
    state: Literal["no_data", "running", "ok", "failing", "stale", "paused"]
    last_success_at: Moment | None
    paused_at: Omissible[Moment] = None
    pause_reason: str | None = None


class ConnectorRun(_Body):
    run: int
    kind: Literal["changes", "snapshot", "import"]
    id: str | None
    state: Literal["receiving", "queued", "running", "succeeded", "failed"]
    created_at: Moment
    finished_at: Moment | None
    counts: dict[str, IngestCounts]
    summary: str | None


class ConnectorStatus(_Body):
    """The school this connector writes for, its sync and its latest runs."""

    school: ConnectorSchool
    sync: ConnectorSync
    runs: list[ConnectorRun]


MODELS: tuple[type[BaseModel], ...] = (
    IngestResult,
    IngestProblems,
    SnapshotStatus,
    ConnectorStatus,
)
