"""The connector's view of its school's sync: whether it is paused, and the latest runs."""

from __future__ import annotations

from flask import Response

from authserver import sync_runs as sync
from authserver.connector import bp
from authserver.connector.ingest import answer
from authserver.connector.protection import current_connector, require_connector
from authserver.domain import sync_health
from authserver.extensions import db


@bp.get("/status")
@require_connector()
def status() -> Response:
    """The school this connector writes for, its sync health and its latest runs."""
    connector = current_connector()
    health = sync_health.health_of(db.session, connector.school_id)
    runs = sync.recent_runs(db.session, connector.school_id, limit=10)
    return answer(
        200,
        {
            "school": {"urn": connector.school.urn, "name": connector.school.name},
            "sync": {
                **health.as_api(),
                "pause_reason": health.pause_reason,
            },
            "runs": [
                {
                    "run": run.id,
                    "kind": str(run.kind),
                    "id": run.external_id,
                    "state": str(run.state),
                    "created_at": run.created_at,
                    "finished_at": run.finished_at,
                    "counts": run.counts,
                    "summary": run.summary,
                }
                for run in runs
            ],
        },
    )
