"""Admissions: applications for a place, before the applicant becomes a pupil."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class AdmissionApplication(MisRecord, db.Model):
    """An application for a place at the school, and the applicant's details."""

    __tablename__ = "mis_admission_applications"
    __entity__ = "admission_application"

    student_id: Mapped[int | None] = mapped_column(ForeignKey("mis_students.id"), index=True)
    application_status: Mapped[str] = mapped_column(String(30))
    application_date: Mapped[dt.date | None]
    intended_nc_year: Mapped[str | None] = mapped_column(String(3))
    intended_admission_date: Mapped[dt.date | None]
    part_time: Mapped[bool] = mapped_column(default=False)
    forename: Mapped[str] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str] = mapped_column(String(100))
    legal_forename: Mapped[str | None] = mapped_column(String(100))
    legal_surname: Mapped[str | None] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(20))
    date_of_birth: Mapped[dt.date | None]
    upn: Mapped[str | None] = mapped_column(String(13))
    previous_school: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(200))
    telephone: Mapped[str | None] = mapped_column(String(30))
