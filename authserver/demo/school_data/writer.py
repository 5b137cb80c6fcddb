"""Bulk inserts for one school, counting the rows added per entity."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from authserver.models.mis import MIS_MODELS, MisRecord


class Writer:
    """Inserts rows for one school, stamped with the school and one time, and counts them."""

    def __init__(self, session: Session, school_id: int, now: dt.datetime) -> None:
        self.session = session
        self.school_id = school_id
        self.now = now
        self.counts: Counter[str] = Counter({m.__entity__: 0 for m in MIS_MODELS})

    def insert(
        self, model: type[MisRecord], rows: Sequence[dict[str, Any]], *, ids: bool = False
    ) -> list[int]:
        """Bulk-insert rows for this school; with ids, return the new ids in row order."""
        if not rows:
            return []
        entity = model.__entity__
        for number, row in enumerate(rows, start=self.counts[entity] + 1):
            row["school_id"] = self.school_id
            row["updated_at"] = self.now
            # The MIS's key, as a connector would send it: a pupil's UPN, else a stable name.
            row.setdefault("mis_id", row.get("upn") or f"{entity}:{number}")
        self.counts[entity] += len(rows)
        if not ids:
            self.session.execute(insert(model), rows)
            return []
        statement = insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(self.session.scalars(statement, rows))
