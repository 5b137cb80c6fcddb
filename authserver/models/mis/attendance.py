"""Attendance: the register codes, session and lesson marks, and per-pupil summaries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord
from authserver.models.mis.writable import WrittenBack


class AttendanceCode(MisRecord, db.Model):
    """A register code the school uses, and what it counts as in the statistics."""

    __tablename__ = "mis_attendance_codes"
    __entity__ = "attendance_code"

    code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50))
    counts_as_possible: Mapped[bool] = mapped_column(default=True)


class SessionMark(WrittenBack, MisRecord, db.Model):
    """A pupil's register mark for a morning or afternoon session."""

    __tablename__ = "mis_session_marks"
    __entity__ = "session_mark"
    __unique_keys__ = (("school_id", "student_id", "date", "session"),)

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    date: Mapped[dt.date] = mapped_column(index=True)
    session: Mapped[str] = mapped_column(String(2))  # AM or PM
    code: Mapped[str] = mapped_column(String(2))
    minutes_late: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(String(500))


class LessonMark(WrittenBack, MisRecord, db.Model):
    """A pupil's register mark for one lesson."""

    __tablename__ = "mis_lesson_marks"
    __entity__ = "lesson_mark"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("mis_lessons.id"), index=True)
    code: Mapped[str] = mapped_column(String(2))
    minutes_late: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(String(500))


class AttendanceSummary(MisRecord, db.Model):
    """A pupil's attendance totals, in sessions, over a span of dates."""

    __tablename__ = "mis_attendance_summaries"
    __entity__ = "attendance_summary"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date]
    possible_sessions: Mapped[int]
    attended_sessions: Mapped[int]
    approved_activity_sessions: Mapped[int]
    authorised_absence_sessions: Mapped[int]
    unauthorised_absence_sessions: Mapped[int]
    late_sessions: Mapped[int]
