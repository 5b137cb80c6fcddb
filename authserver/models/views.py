"""A grant's view: who and which fields its application could see, and when that changed.

Kept so that a vendor's copy converges: a person or field entering the view makes their
records come back in `updated_after` syncs, and one leaving it leaves view tombstones in
`/deletions` (see authserver/domain/views.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class ViewMember(db.Model):
    """A stretch of time during which a person (a pupil, contact or member of staff) was in a
    grant's view; `until` is empty while they still are.

    Person 0 of type `student` stands for "no pupil": records of a pupil-owned kind that name
    no pupil (an admission before the pupil is on roll), seen only by whole-school grants.
    """

    __tablename__ = "view_members"
    __table_args__ = (
        Index("ix_view_members_grant_id_person", "grant_id", "person_type", "person_id"),
        Index("ix_view_members_grant_id_since", "grant_id", "person_type", "since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    person_type: Mapped[str] = mapped_column(String(10))
    person_id: Mapped[int]
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ViewField(db.Model):
    """A stretch of time during which a field (`entity.field`) was in a grant's view, or a row
    rule was (`exam_result.*embargoed`: results still under embargo)."""

    __tablename__ = "view_fields"
    __table_args__ = (Index("ix_view_fields_grant_id_field", "grant_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    field: Mapped[str] = mapped_column(String(120))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ViewTombstone(db.Model):
    """Something that left one grant's view without being deleted in the MIS: a record (its
    person left the view), a field of every record, or a whole resource."""

    __tablename__ = "view_tombstones"
    __table_args__ = (Index("ix_view_tombstones_grant_id_deleted_at", "grant_id", "deleted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    entity: Mapped[str] = mapped_column(String(50))
    record_id: Mapped[int | None]
    field: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(30))
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ViewState(db.Model):
    """When a grant's view ledger was last brought up to date, so that a sync can skip the
    work when nothing that decides who is in view has changed since."""

    __tablename__ = "view_states"

    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), primary_key=True)
    reconciled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reconciled_on: Mapped[dt.date]
