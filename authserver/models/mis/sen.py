"""Special educational needs: needs, provision, EHC plans, statements, reviews and events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class SenNeed(MisRecord, db.Model):
    """A pupil's special educational need, ranked (1 is the primary need)."""

    __tablename__ = "mis_sen_needs"
    __entity__ = "sen_need"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    need_type: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(String(200))
    rank: Mapped[int | None]
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class SenProvision(MisRecord, db.Model):
    """Support the school puts in place for a pupil's special educational needs."""

    __tablename__ = "mis_sen_provisions"
    __entity__ = "sen_provision"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    provision_type: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    hours_per_week: Mapped[float | None]
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class EhcPlan(MisRecord, db.Model):
    """A pupil's Education, Health and Care plan and where it is in its life."""

    __tablename__ = "mis_ehc_plans"
    __entity__ = "ehc_plan"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    status: Mapped[str] = mapped_column(String(50))
    local_authority: Mapped[str | None] = mapped_column(String(100))
    requested_on: Mapped[dt.date | None]
    issued_on: Mapped[dt.date | None]
    last_review_on: Mapped[dt.date | None]
    next_review_on: Mapped[dt.date | None]


class SenStatement(MisRecord, db.Model):
    """A statement of special educational needs, the plan that EHC plans replaced in 2014."""

    __tablename__ = "mis_sen_statements"
    __entity__ = "sen_statement"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    local_authority: Mapped[str | None] = mapped_column(String(100))
    issued_on: Mapped[dt.date | None]
    ceased_on: Mapped[dt.date | None]
    ceased_reason: Mapped[str | None] = mapped_column(String(200))


class SenReview(MisRecord, db.Model):
    """A review of a pupil's special educational needs support, and its outcome."""

    __tablename__ = "mis_sen_reviews"
    __entity__ = "sen_review"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    review_type: Mapped[str] = mapped_column(String(100))
    review_date: Mapped[dt.date]
    outcome: Mapped[str | None] = mapped_column(Text)
    next_review_date: Mapped[dt.date | None]


class SenEvent(MisRecord, db.Model):
    """A meeting or other event about a pupil's needs, and the person involved."""

    __tablename__ = "mis_sen_events"
    __entity__ = "sen_event"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    event_date: Mapped[dt.date]
    description: Mapped[str | None] = mapped_column(Text)
    person_name: Mapped[str | None] = mapped_column(String(200))
    person_role: Mapped[str | None] = mapped_column(String(100))
