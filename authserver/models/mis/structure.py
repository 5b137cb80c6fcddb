"""How the school is organised: groups, subjects, classes, rooms and the timetable."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime
from authserver.models.mis.base import MisRecord


class Group(MisRecord, db.Model):
    """A pastoral group: a year group, a registration (tutor) group or a house."""

    __tablename__ = "mis_groups"
    __entity__ = "group"

    type: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    nc_year: Mapped[str | None] = mapped_column(String(3))
    lead_staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)


class GroupMembership(MisRecord, db.Model):
    """A pupil's membership of a group, over a span of dates."""

    __tablename__ = "mis_group_memberships"
    __entity__ = "group_membership"

    group_id: Mapped[int] = mapped_column(ForeignKey("mis_groups.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class Subject(MisRecord, db.Model):
    """A subject taught at the school."""

    __tablename__ = "mis_subjects"
    __entity__ = "subject"

    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    national_code: Mapped[str | None] = mapped_column(String(10))


class Room(MisRecord, db.Model):
    """A room where lessons are taught."""

    __tablename__ = "mis_rooms"
    __entity__ = "room"

    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    room_type: Mapped[str | None] = mapped_column(String(50))
    capacity: Mapped[int | None]


class TeachingClass(MisRecord, db.Model):
    """A teaching class: pupils taught one subject together by a teacher."""

    __tablename__ = "mis_classes"
    __entity__ = "class"

    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("mis_subjects.id"), index=True)
    nc_year: Mapped[str | None] = mapped_column(String(3))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)


class ClassMembership(MisRecord, db.Model):
    """A pupil's membership of a teaching class, over a span of dates."""

    __tablename__ = "mis_class_memberships"
    __entity__ = "class_membership"

    class_id: Mapped[int] = mapped_column(ForeignKey("mis_classes.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class Period(MisRecord, db.Model):
    """A slot in the weekly timetable, in the school's local time."""

    __tablename__ = "mis_periods"
    __entity__ = "period"

    name: Mapped[str] = mapped_column(String(50))
    day: Mapped[int]  # ISO weekday: 1 is Monday
    start_time: Mapped[dt.time]
    end_time: Mapped[dt.time]


class Lesson(MisRecord, db.Model):
    """One lesson of a class on a date: the period, room and teacher."""

    __tablename__ = "mis_lessons"
    __entity__ = "lesson"

    class_id: Mapped[int] = mapped_column(ForeignKey("mis_classes.id"), index=True)
    period_id: Mapped[int | None] = mapped_column(ForeignKey("mis_periods.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("mis_rooms.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    date: Mapped[dt.date] = mapped_column(index=True)
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
