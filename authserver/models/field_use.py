"""How much each application read of each field of a school's data, per day (UTC).

A rollup of the `data:read` audit events, written in the same transaction as each event, so
that the dashboard can show use over weeks without scanning the log. The audit log stays the
record; this table is only a running count of it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime

# The key under which a read as a whole is counted (one per request, whatever it sent), beside
# the "entity.field" keys of what it sent.
WHOLE_READ = "*"


def whole_read_of(entity: str) -> str:
    """The key under which reads of an entity are counted whatever they sent ("student.*"): an
    empty page sends no field, yet the history still names what was read."""
    return f"{entity}.{WHOLE_READ}"


class FieldUseDay(db.Model):
    """One application's reads of one field (or, under WHOLE_READ, of anything) at one school
    on one day."""

    __tablename__ = "field_use_days"
    __table_args__ = (
        # The history page's summaries: a school's whole reads, newest day first.
        Index("ix_field_use_days_school_id_field_day", "school_id", "field", "day"),
    )

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    # "entity.field" as the catalogue names it, WHOLE_READ, or an entity's whole_read_of.
    field: Mapped[str] = mapped_column(String(120), primary_key=True)
    # How many requests sent the field, and how many records they returned between them.
    requests: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    last_read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
