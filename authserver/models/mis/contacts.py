"""Pupils' contacts (parents, carers, relatives) and how each is linked to each pupil."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class Contact(MisRecord, db.Model):
    """A parent, carer or other adult the school may contact about one or more pupils."""

    __tablename__ = "mis_contacts"
    __entity__ = "contact"

    upi: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str | None] = mapped_column(String(20))
    forename: Mapped[str] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str] = mapped_column(String(100))
    legal_forename: Mapped[str | None] = mapped_column(String(100))
    legal_surname: Mapped[str | None] = mapped_column(String(100))
    initials: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    home_telephone: Mapped[str | None] = mapped_column(String(30))
    mobile_telephone: Mapped[str | None] = mapped_column(String(30))
    work_telephone: Mapped[str | None] = mapped_column(String(30))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    notes: Mapped[str | None] = mapped_column(Text)


class StudentContact(MisRecord, db.Model):
    """The link between a pupil and a contact: relationship, responsibility, priority."""

    __tablename__ = "mis_student_contacts"
    __entity__ = "student_contact"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("mis_contacts.id"), index=True)
    relationship: Mapped[str | None] = mapped_column(String(50))
    parental_responsibility: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int | None]
    lives_with: Mapped[bool] = mapped_column(default=False)
    receives_correspondence: Mapped[bool] = mapped_column(default=False)
    in_touch_communication: Mapped[bool] = mapped_column(default=False)
