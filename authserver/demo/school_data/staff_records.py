"""Staff HR records: contracts, roles, pay, qualifications, checks, absences, next of kin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.curriculum import DEPARTMENTS
from authserver.demo.school_data.people import landline, mobile
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.staff import ROLE_CODES, StaffList
from authserver.demo.school_data.structure import Groups, Subjects
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import (
    StaffAbsence,
    StaffCheck,
    StaffContract,
    StaffDisability,
    StaffNextOfKin,
    StaffNote,
    StaffPay,
    StaffQualification,
    StaffRole,
)

STAFF_ABSENCES = [
    ("Sickness", "Cold and flu symptoms"),
    ("Sickness", "Stomach upset"),
    ("Sickness", "Back pain"),
    ("Medical appointment", "Hospital appointment"),
    ("Compassionate leave", "Family bereavement"),
    ("Training", "Subject network meeting"),
    ("Jury service", "Summoned for jury service"),
]
STAFF_DISABILITIES = [
    (
        "Hearing impairment",
        "Partial hearing loss in one ear.",
        "Seat near the speaker in meetings.",
    ),
    ("Dyslexia", "Diagnosed in adulthood.", "Documents shared in advance, in a larger font."),
    ("Mobility impairment", "Uses a walking stick.", "Ground-floor classroom and parking bay."),
    ("Long-term health condition", "Managed with medication.", "Flexible start on clinic days."),
]
UNIVERSITIES = [
    "University of Leeds", "University of Manchester", "University of Exeter",
    "University of Nottingham", "Cardiff University", "University of Sheffield",
    "Durham University", "University of York", "Oxford Brookes University",
]  # fmt: skip
TEACHER_PAY = [
    ("M1", 32916),
    ("M2", 34823),
    ("M3", 37101),
    ("M4", 39390),
    ("M5", 41963),
    ("M6", 45352),
    ("U1", 47472),
    ("U2", 49232),
    ("U3", 51048),
]


def _qualification(
    staff_id: int,
    name: str,
    subject: str | None,
    institution: str,
    awarded: dt.date,
    *,
    verified: bool,
) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "qualification": name,
        "subject": subject,
        "institution": institution,
        "awarded_on": awarded,
        "verified": verified,
    }


def _check(
    staff_id: int, kind: str, reference: str | None, checked: dt.date, outcome: str, by: str
) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "check_type": kind,
        "reference": reference,
        "checked_on": checked,
        "outcome": outcome,
        "checked_by": by,
        "renewal_due_on": None,
    }


def _role(
    staff_id: int, contract_id: int, role: str, code: str, start: dt.date, end: dt.date | None
) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "contract_id": contract_id,
        "role": role,
        "code": code,
        "start_date": start,
        "end_date": end,
    }


def insert_staff_records(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    *,
    staff: StaffList,
    subjects: Subjects,
    groups: Groups,
) -> None:
    """Each member of staff's contract, pay, qualifications, checks and next of kin; roles."""
    rng, fake = source.rng, source.fake
    contracts, pay, qualifications = [], [], []
    absences, checks, disabilities, kin, notes = [], [], [], [], []
    for staff_id, row, (kind, subject, role) in zip(
        staff.ids, staff.rows, staff.kinds, strict=True
    ):
        teaching = kind in {"head", "teacher", "former"}
        subject_name = subjects.names.get(subject or "", "")
        post = role if not subject_name else f"Teacher of {subject_name}"
        part_time = source.chance(0.15)
        contracts.append(
            {
                "staff_id": staff_id,
                "post": post,
                "employment_type": "Permanent" if source.chance(0.9) else "Fixed term",
                "start_date": row["employment_start_date"],
                "end_date": row["employment_end_date"],
                "hours_per_week": (32.5 if teaching else 37.0) * (0.6 if part_time else 1.0),
                "fte": 0.6 if part_time else 1.0,
            }
        )
        if teaching and kind != "head":
            point, salary = rng.choice(TEACHER_PAY)
            scale = "Upper pay range" if point.startswith("U") else "Main pay range"
        elif kind == "head":
            point, salary, scale = "L18", 78_000 + rng.randint(0, 20) * 500, "Leadership"
        else:
            spine = rng.randint(3, 22)
            point, salary, scale = str(spine), 24_000 + spine * 520, "NJC pay spine"
        pay.append(
            {
                "staff_id": staff_id,
                "contract_id": None,
                "pay_scale": scale,
                "spine_point": point,
                "annual_salary": round(salary * (0.6 if part_time else 1)),
                "allowances": 3_300 if kind == "teacher" and source.chance(0.2) else 0,
                "payroll_number": f"P{staff_id:06d}",
                "effective_date": dt.date(year.year, 9, 1),
            }
        )
        if teaching:
            degree = subject_name or "Education"
            graduated = row["date_of_birth"].year + 21
            qualifications += [
                _qualification(
                    staff_id,
                    rng.choice(["BA (Hons)", "BSc (Hons)"]),
                    degree,
                    rng.choice(UNIVERSITIES),
                    dt.date(graduated, 7, 1),
                    verified=True,
                ),
                _qualification(
                    staff_id,
                    "PGCE",
                    degree,
                    rng.choice(UNIVERSITIES),
                    dt.date(graduated + 1, 7, 1),
                    verified=True,
                ),
                _qualification(
                    staff_id,
                    "Qualified teacher status (QTS)",
                    None,
                    "Department for Education",
                    dt.date(graduated + 1, 7, 15),
                    verified=True,
                ),
            ]
        elif source.chance(0.6):
            qualifications.append(
                _qualification(
                    staff_id,
                    "Level 3 Diploma",
                    "Supporting teaching and learning",
                    "City College",
                    dt.date(year.year - rng.randint(1, 10), 7, 1),
                    verified=source.chance(0.8),
                )
            )
        checked = row["employment_start_date"] - dt.timedelta(days=30)
        dbs = f"00{rng.randint(10**9, 10**10 - 1)}"
        checks.append(
            _check(
                staff_id, "Enhanced DBS with barred list", dbs, checked, "Clear", "Office manager"
            )
        )
        checks.append(
            _check(staff_id, "Right to work in the UK", None, checked, "Verified", "Office manager")
        )
        if teaching:
            checks.append(
                _check(
                    staff_id,
                    "Prohibition from teaching",
                    row["teacher_number"],
                    checked,
                    "No prohibition found",
                    "Business manager",
                )
            )
        if row["is_current"] and source.chance(0.3):
            kind_of, reason = rng.choice(STAFF_ABSENCES)
            start = year.day_before_today(rng.randint(5, 150))
            length = rng.randint(1, 4)
            absences.append(
                {
                    "staff_id": staff_id,
                    "absence_type": kind_of,
                    "reason": reason,
                    "start_date": start,
                    "end_date": start + dt.timedelta(days=length - 1),
                    "working_days_lost": float(length),
                    "document_name": "Fit note.pdf"
                    if kind_of == "Sickness" and length > 3
                    else None,
                }
            )
        kin.append(
            {
                "staff_id": staff_id,
                "name": fake.name(),
                "relationship": rng.choice(["Spouse", "Partner", "Parent", "Sibling"]),
                "telephone": landline(source) if source.chance(0.3) else None,
                "mobile": mobile(source),
                "email": None,
                "priority": 1,
            }
        )
    for staff_id in source.sample(staff.ids, 0.03):
        category, description, adjustments = rng.choice(STAFF_DISABILITIES)
        disabilities.append(
            {
                "staff_id": staff_id,
                "category": category,
                "description": description,
                "reasonable_adjustments": adjustments,
            }
        )
    for staff_id in source.sample(staff.ids, 0.1):
        notes.append(
            {
                "staff_id": staff_id,
                "category": "HR",
                "title": rng.choice(
                    ["Return to work meeting", "Probation review", "Appraisal objectives"]
                ),
                "body": "Meeting held and notes filed; no further action.",
                "recorded_on": year.day_before_today(rng.randint(5, 300)),
            }
        )
    if not absences:
        absences.append(
            {
                "staff_id": staff.ids[-2],
                "absence_type": "Training",
                "reason": "Safeguarding update",
                "start_date": year.recent_day(rng),
                "end_date": None,
                "working_days_lost": 0.5,
                "document_name": None,
            }
        )

    contract_ids = writer.insert(StaffContract, contracts, ids=True)
    for row, contract_id in zip(pay, contract_ids, strict=True):
        row["contract_id"] = contract_id
    writer.insert(StaffRole, _roles(profile, year, staff, groups, contract_ids))
    writer.insert(StaffPay, pay)
    writer.insert(StaffQualification, qualifications)
    writer.insert(StaffAbsence, absences)
    writer.insert(StaffCheck, checks)
    writer.insert(StaffDisability, disabilities)
    writer.insert(StaffNextOfKin, kin)
    writer.insert(StaffNote, notes)


def _roles(
    profile: SchoolProfile,
    year: AcademicYear,
    staff: StaffList,
    groups: Groups,
    contract_ids: list[int],
) -> list[dict[str, Any]]:
    """Each post, a head for each secondary department, form tutors, the DSL and SENCo."""
    roles = []
    leaders: set[str] = set()
    tutors = set(groups.form_tutor.values())
    senco = staff.teacher_ids[0] if staff.teacher_ids else staff.head_id
    extras = {
        staff.head_id: ("Designated safeguarding lead", "DSL"),
        senco: ("SENCo", "SENCO"),
    }
    for staff_id, (kind, subject, role), contract_id, row in zip(
        staff.ids, staff.kinds, contract_ids, staff.rows, strict=True
    ):
        end = None if kind != "former" else dt.date(year.year, 7, 21)
        roles.append(
            _role(
                staff_id,
                contract_id,
                role,
                ROLE_CODES.get(role, "OTH"),
                row["employment_start_date"],
                end,
            )
        )
        department = DEPARTMENTS.get(subject or "") if not profile.primary else None
        if kind == "teacher" and department and department not in leaders:
            leaders.add(department)
            since = dt.date(year.year - 2, 9, 1)
            roles.append(_role(staff_id, contract_id, f"Head of {department}", "HOD", since, None))
        if staff_id in tutors and not profile.primary:
            roles.append(_role(staff_id, contract_id, "Form tutor", "TUT", year.start, None))
        if staff_id in extras:
            name, code = extras[staff_id]
            since = dt.date(year.year - 1, 9, 1)
            roles.append(_role(staff_id, contract_id, name, code, since, None))
    return roles
