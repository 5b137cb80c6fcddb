"""Pupils: the pupil record itself, notes, enrolment and school history, funding, post-16 study."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class Student(MisRecord, db.Model):
    """A pupil on the school's roll, past, present or future."""

    __tablename__ = "mis_students"
    __entity__ = "student"

    upi: Mapped[str | None] = mapped_column(String(36))
    forename: Mapped[str] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str] = mapped_column(String(100))
    preferred_forename: Mapped[str | None] = mapped_column(String(100))
    preferred_surname: Mapped[str | None] = mapped_column(String(100))
    legal_forename: Mapped[str | None] = mapped_column(String(100))
    legal_surname: Mapped[str | None] = mapped_column(String(100))
    initials: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(20))
    date_of_birth: Mapped[dt.date | None]
    upn: Mapped[str | None] = mapped_column(String(13), index=True)
    former_upn: Mapped[str | None] = mapped_column(String(13))
    admission_number: Mapped[str | None] = mapped_column(String(20))
    nc_year: Mapped[str | None] = mapped_column(String(3))
    enrolment_status: Mapped[str | None] = mapped_column(String(20))
    admission_date: Mapped[dt.date | None]
    leaving_date: Mapped[dt.date | None]
    part_time: Mapped[bool] = mapped_column(default=False)
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(200))
    telephone: Mapped[str | None] = mapped_column(String(30))
    ethnicity: Mapped[str | None] = mapped_column(String(100))
    religion: Mapped[str | None] = mapped_column(String(100))
    first_language: Mapped[str | None] = mapped_column(String(50))
    english_proficiency: Mapped[str | None] = mapped_column(String(50))
    fsm_eligible: Mapped[bool] = mapped_column(default=False)
    fsm_ever6: Mapped[bool] = mapped_column(default=False)
    pupil_premium: Mapped[bool] = mapped_column(default=False)
    other_funding: Mapped[str | None] = mapped_column(String(100))
    service_child: Mapped[bool] = mapped_column(default=False)
    in_care: Mapped[bool] = mapped_column(default=False)
    adopted_from_care: Mapped[bool] = mapped_column(default=False)
    young_carer: Mapped[bool] = mapped_column(default=False)
    gender_identity: Mapped[str | None] = mapped_column(String(50))
    pregnant: Mapped[bool] = mapped_column(default=False)
    deceased_date: Mapped[dt.date | None]
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    sen_status: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Student {self.id} {self.forename} {self.surname}>"


class StudentNote(MisRecord, db.Model):
    """A dated free-text note, document or user-defined field kept against a pupil."""

    __tablename__ = "mis_student_notes"
    __entity__ = "student_note"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date | None]


class EnrolmentHistory(MisRecord, db.Model):
    """One academic year of a pupil's time at this school: year group, tutor group, status."""

    __tablename__ = "mis_enrolment_history"
    __entity__ = "enrolment_history"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    academic_year: Mapped[str] = mapped_column(String(9))
    nc_year: Mapped[str | None] = mapped_column(String(3))
    registration_group: Mapped[str | None] = mapped_column(String(50))
    enrolment_status: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class SchoolHistory(MisRecord, db.Model):
    """A school the pupil attended before (or alongside) this one."""

    __tablename__ = "mis_school_history"
    __entity__ = "school_history"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    school_name: Mapped[str] = mapped_column(String(200))
    school_urn: Mapped[str | None] = mapped_column(String(16))
    la_estab: Mapped[str | None] = mapped_column(String(7))
    entry_date: Mapped[dt.date | None]
    leaving_date: Mapped[dt.date | None]
    leaving_reason: Mapped[str | None] = mapped_column(String(200))


class FundingMonitoring(MisRecord, db.Model):
    """A dated funding or monitoring indicator (free meals, pupil premium, service premium...)."""

    __tablename__ = "mis_funding_monitoring"
    __entity__ = "funding_monitoring"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    indicator: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    notes: Mapped[str | None] = mapped_column(Text)


class Post16Study(MisRecord, db.Model):
    """A learning aim on a sixth-former's study programme."""

    __tablename__ = "mis_post16_studies"
    __entity__ = "post16_study"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    learning_aim: Mapped[str | None] = mapped_column(String(8))
    qualification: Mapped[str] = mapped_column(String(100))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("mis_subjects.id"), index=True)
    start_date: Mapped[dt.date | None]
    planned_end_date: Mapped[dt.date | None]
    planned_hours: Mapped[int | None]
    completion_status: Mapped[str | None] = mapped_column(String(50))
