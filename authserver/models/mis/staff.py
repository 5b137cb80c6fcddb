"""Staff: the staff record and its employment, pay, checks, absence and personal details."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord


class Staff(MisRecord, db.Model):
    """A member of staff, teaching or support, current or former."""

    __tablename__ = "mis_staff"
    __entity__ = "staff"

    upi: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str | None] = mapped_column(String(20))
    forename: Mapped[str] = mapped_column(String(100))
    middle_names: Mapped[str | None] = mapped_column(String(200))
    surname: Mapped[str] = mapped_column(String(100))
    preferred_forename: Mapped[str | None] = mapped_column(String(100))
    legal_forename: Mapped[str | None] = mapped_column(String(100))
    legal_surname: Mapped[str | None] = mapped_column(String(100))
    initials: Mapped[str | None] = mapped_column(String(10))
    staff_code: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(20))
    date_of_birth: Mapped[dt.date | None]
    teacher_number: Mapped[str | None] = mapped_column(String(10))
    work_email: Mapped[str | None] = mapped_column(String(200))
    work_telephone: Mapped[str | None] = mapped_column(String(30))
    is_teaching_staff: Mapped[bool] = mapped_column(default=False)
    is_current: Mapped[bool] = mapped_column(default=True)
    employment_start_date: Mapped[dt.date | None]
    employment_end_date: Mapped[dt.date | None]
    la_start_date: Mapped[dt.date | None]
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    personal_email: Mapped[str | None] = mapped_column(String(200))
    personal_telephone: Mapped[str | None] = mapped_column(String(30))
    personal_mobile: Mapped[str | None] = mapped_column(String(30))
    national_insurance_number: Mapped[str | None] = mapped_column(String(9))
    ethnicity: Mapped[str | None] = mapped_column(String(100))
    religion: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Staff {self.id} {self.staff_code}>"


class StaffContract(MisRecord, db.Model):
    """An employment contract: post, type, dates and hours."""

    __tablename__ = "mis_staff_contracts"
    __entity__ = "staff_contract"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    post: Mapped[str | None] = mapped_column(String(100))
    employment_type: Mapped[str | None] = mapped_column(String(50))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
    hours_per_week: Mapped[float | None]
    fte: Mapped[float | None]


class StaffRole(MisRecord, db.Model):
    """A role a member of staff holds, such as class teacher or head of year."""

    __tablename__ = "mis_staff_roles"
    __entity__ = "staff_role"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_staff_contracts.id"), index=True
    )
    role: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]


class StaffPay(MisRecord, db.Model):
    """Pay for a contract: scale, spine point, salary and allowances, in whole pounds a year."""

    __tablename__ = "mis_staff_pay"
    __entity__ = "staff_pay"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_staff_contracts.id"), index=True
    )
    pay_scale: Mapped[str | None] = mapped_column(String(50))
    spine_point: Mapped[str | None] = mapped_column(String(10))
    annual_salary: Mapped[int | None]
    allowances: Mapped[int | None]
    payroll_number: Mapped[str | None] = mapped_column(String(20))
    effective_date: Mapped[dt.date | None]


class StaffQualification(MisRecord, db.Model):
    """A qualification a member of staff holds, such as a degree or qualified teacher status."""

    __tablename__ = "mis_staff_qualifications"
    __entity__ = "staff_qualification"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    qualification: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(100))
    institution: Mapped[str | None] = mapped_column(String(200))
    awarded_on: Mapped[dt.date | None]
    verified: Mapped[bool] = mapped_column(default=False)


class StaffAbsence(MisRecord, db.Model):
    """A period of staff absence, with its reason and any supporting document."""

    __tablename__ = "mis_staff_absences"
    __entity__ = "staff_absence"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    absence_type: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date | None]
    working_days_lost: Mapped[float | None]
    document_name: Mapped[str | None] = mapped_column(String(200))


class StaffCheck(MisRecord, db.Model):
    """A pre-employment or safeguarding check (DBS, barred list, right to work...)."""

    __tablename__ = "mis_staff_checks"
    __entity__ = "staff_check"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    check_type: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(50))
    checked_on: Mapped[dt.date | None]
    outcome: Mapped[str | None] = mapped_column(String(50))
    checked_by: Mapped[str | None] = mapped_column(String(100))
    renewal_due_on: Mapped[dt.date | None]


class StaffDisability(MisRecord, db.Model):
    """A disability a member of staff has declared, and the adjustments made for it."""

    __tablename__ = "mis_staff_disabilities"
    __entity__ = "staff_disability"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    reasonable_adjustments: Mapped[str | None] = mapped_column(Text)


class StaffNextOfKin(MisRecord, db.Model):
    """Someone to contact in an emergency involving a member of staff."""

    __tablename__ = "mis_staff_next_of_kin"
    __entity__ = "staff_next_of_kin"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str | None] = mapped_column(String(50))
    telephone: Mapped[str | None] = mapped_column(String(30))
    mobile: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int | None]


class StaffNote(MisRecord, db.Model):
    """A dated free-text note or document kept against a member of staff."""

    __tablename__ = "mis_staff_notes"
    __entity__ = "staff_note"

    staff_id: Mapped[int] = mapped_column(ForeignKey("mis_staff.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date | None]
