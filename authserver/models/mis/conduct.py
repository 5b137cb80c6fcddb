"""Conduct: behaviour incidents, achievements and detentions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord
from authserver.models.mis.writable import WrittenBack


class Behaviour(WrittenBack, MisRecord, db.Model):
    """A behaviour incident recorded against a pupil."""

    __tablename__ = "mis_behaviours"
    __entity__ = "behaviour"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    occurred_on: Mapped[dt.date]
    behaviour_type: Mapped[str] = mapped_column(String(100))
    points: Mapped[int | None]
    location: Mapped[str | None] = mapped_column(String(100))
    action_taken: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(50))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    comment: Mapped[str | None] = mapped_column(Text)


class Achievement(WrittenBack, MisRecord, db.Model):
    """An achievement (praise, merit, award) recorded for a pupil."""

    __tablename__ = "mis_achievements"
    __entity__ = "achievement"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    occurred_on: Mapped[dt.date]
    achievement_type: Mapped[str] = mapped_column(String(100))
    points: Mapped[int | None]
    award: Mapped[str | None] = mapped_column(String(100))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    comment: Mapped[str | None] = mapped_column(Text)


class Detention(MisRecord, db.Model):
    """A detention a pupil was given, usually for a behaviour incident."""

    __tablename__ = "mis_detentions"
    __entity__ = "detention"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    behaviour_id: Mapped[int | None] = mapped_column(ForeignKey("mis_behaviours.id"), index=True)
    detention_type: Mapped[str] = mapped_column(String(100))
    date: Mapped[dt.date]
    start_time: Mapped[dt.time | None]
    end_time: Mapped[dt.time | None]
    location: Mapped[str | None] = mapped_column(String(100))
    attended: Mapped[bool | None]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)
