"""Welfare: medical conditions, dietary needs, exclusions, social care, consents, support."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class MedicalCondition(MisRecord, db.Model):
    """A medical condition of a pupil, with medication and whether a care plan exists."""

    __tablename__ = "mis_medical_conditions"
    __entity__ = "medical_condition"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    condition: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    medication: Mapped[str | None] = mapped_column(String(200))
    care_plan: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[dt.date | None]


class DietaryNeed(MisRecord, db.Model):
    """A pupil's dietary need: an allergy, an intolerance, or a religious or personal diet."""

    __tablename__ = "mis_dietary_needs"
    __entity__ = "dietary_need"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    need_type: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(50))


class Exclusion(MisRecord, db.Model):
    """A suspension or permanent exclusion of a pupil."""

    __tablename__ = "mis_exclusions"
    __entity__ = "exclusion"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    exclusion_type: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date | None]
    sessions: Mapped[int | None]
    appeal_status: Mapped[str | None] = mapped_column(String(50))


class SocialServicesInvolvement(MisRecord, db.Model):
    """Children's social care involvement with a pupil (child in need, protection, in care)."""

    __tablename__ = "mis_social_services"
    __entity__ = "social_services_involvement"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    involvement_type: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(100))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    local_authority: Mapped[str | None] = mapped_column(String(100))
    social_worker_name: Mapped[str | None] = mapped_column(String(200))
    social_worker_telephone: Mapped[str | None] = mapped_column(String(30))


class ParentalConsent(MisRecord, db.Model):
    """Whether a pupil's parent consented to something (trips, photographs, medicines...)."""

    __tablename__ = "mis_parental_consents"
    __entity__ = "parental_consent"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("mis_contacts.id"), index=True)
    consent_type: Mapped[str] = mapped_column(String(100))
    granted: Mapped[bool]
    recorded_on: Mapped[dt.date | None]
    expires_on: Mapped[dt.date | None]


class Intervention(MisRecord, db.Model):
    """A targeted intervention for a pupil, such as reading catch-up or mentoring."""

    __tablename__ = "mis_interventions"
    __entity__ = "intervention"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    intervention_type: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(String(200))


class AlternativeProvision(MisRecord, db.Model):
    """Education a pupil receives away from the school, from another provider."""

    __tablename__ = "mis_alternative_provisions"
    __entity__ = "alternative_provision"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    provider_name: Mapped[str] = mapped_column(String(200))
    provider_urn: Mapped[str | None] = mapped_column(String(16))
    provision_type: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    sessions_per_week: Mapped[int | None]
    notes: Mapped[str | None] = mapped_column(Text)
