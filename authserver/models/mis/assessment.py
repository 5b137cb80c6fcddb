"""Assessment: what the school assesses, pupils' results, and external exam results."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime
from authserver.models.mis.base import MisRecord
from authserver.models.mis.writable import WrittenBack


class AssessmentAspect(MisRecord, db.Model):
    """Something the school assesses, such as a working-at grade in a subject."""

    __tablename__ = "mis_assessment_aspects"
    __entity__ = "assessment_aspect"

    name: Mapped[str] = mapped_column(String(100))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("mis_subjects.id"), index=True)
    result_type: Mapped[str] = mapped_column(String(20))
    grade_set: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))


class AssessmentResult(WrittenBack, MisRecord, db.Model):
    """A pupil's result for an aspect in a data collection (result set)."""

    __tablename__ = "mis_assessment_results"
    __entity__ = "assessment_result"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    aspect_id: Mapped[int] = mapped_column(ForeignKey("mis_assessment_aspects.id"), index=True)
    result_set: Mapped[str] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date | None]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)


class ExamResult(MisRecord, db.Model):
    """A pupil's external exam or statutory assessment result, possibly still embargoed."""

    __tablename__ = "mis_exam_results"
    __entity__ = "exam_result"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    qualification: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(100))
    awarding_body: Mapped[str | None] = mapped_column(String(50))
    season: Mapped[str | None] = mapped_column(String(50))
    grade: Mapped[str | None] = mapped_column(String(20))
    mark: Mapped[int | None]
    result_date: Mapped[dt.date | None]
    embargoed: Mapped[bool] = mapped_column(default=False, index=True)
    embargo_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
