"""Sample upload files made from one demo school: a CTF of a Year 7 cohort and a OneRoster
bundle of the whole school, as shipped in the repository's samples/ folder.

Regenerate them with `python -m authserver.mis_files.samples samples/`; a test checks that the
shipped files are what this module makes from the demo world of `SEED`.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from authserver.mis_files.writing import Records, SchoolDetails, write_ctf, write_oneroster
from authserver.models.mis import (
    MIS_MODELS,
    AssessmentAspect,
    AssessmentResult,
    AttendanceSummary,
    ClassMembership,
    Contact,
    MisRecord,
    SchoolHistory,
    SchoolInfo,
    SenNeed,
    SessionMark,
    Staff,
    Student,
    StudentContact,
    Subject,
    TeachingClass,
    entity_fields,
)
from authserver.models.organisations import School

SEED = 7
STUDENTS = 240
WEEKS_OF_ATTENDANCE = 2
TODAY = dt.date(2025, 11, 20)
MADE_AT = dt.datetime(2025, 11, 20, 16, 30, tzinfo=dt.UTC)
CTF_NAME = "ctf-year7-cohort.xml"
ONEROSTER_NAME = "oneroster-school.zip"
#: The CTF's cohort: this many Year 7 pupils, in the order of their rows.
COHORT_SIZE = 30
_MODELS_BY_TABLE = {model.__tablename__: model for model in MIS_MODELS}


def record_key(row: MisRecord) -> str:
    """A row's key in the connector format: its MIS key, a pupil's UPN, else `entity-id`."""
    mis_id = getattr(row, "mis_id", None)
    if mis_id:
        return str(mis_id)
    if isinstance(row, Student) and row.upn:
        return row.upn
    return f"{row.__entity__}-{row.id}"


class _Keys:
    """Each linked row's key, looked up once per table."""

    def __init__(self, session: Session, school_id: int) -> None:
        self.session = session
        self.school_id = school_id
        self.cache: dict[type[MisRecord], dict[int, str]] = {}

    def of(self, model: type[MisRecord], row_id: int) -> str:
        if model not in self.cache:
            rows = self.session.scalars(select(model).where(model.school_id == self.school_id))
            self.cache[model] = {row.id: record_key(row) for row in rows}
        return self.cache[model][row_id]


def records_of(session: Session, rows: list[MisRecord], keys: _Keys) -> list[dict[str, Any]]:
    """Rows as connector records: their fields, key, links as keys, dates as ISO text."""
    records = []
    for row in rows:
        table = inspect(type(row)).local_table
        record: dict[str, Any] = {} if isinstance(row, Student) else {"id": record_key(row)}
        for name in entity_fields(row.__entity__):
            value = getattr(row, name)
            column = table.c[name]
            if value is not None and column.foreign_keys:
                [foreign] = column.foreign_keys
                value = keys.of(_MODELS_BY_TABLE[foreign.column.table.name], value)
            elif isinstance(value, dt.date | dt.datetime):
                value = value.isoformat()
            record[name] = value
        records.append(record)
    return records


def school_details(session: Session, school: School) -> SchoolDetails:
    """The header facts of a sample file, from the school and its MIS school_info row."""
    info = session.scalar(select(SchoolInfo).where(SchoolInfo.school_id == school.id))
    return SchoolDetails(
        name=school.name,
        urn=school.urn,
        la_code=(info.la_code if info else None) or "999",
        establishment_number=(info.establishment_number if info else None) or "9999",
        made_at=MADE_AT,
    )


def cohort_records(session: Session, school: School, size: int = COHORT_SIZE) -> Records:
    """A Year 7 cohort and what a CTF carries of them, as connector records."""
    keys = _Keys(session, school.id)
    pupils = list(
        session.scalars(
            select(Student)
            .where(
                Student.school_id == school.id,
                Student.nc_year == "7",
                Student.enrolment_status == "current",
            )
            .order_by(Student.id)
            .limit(size)
        )
    )
    ids = [p.id for p in pupils]

    def of(model: type[MisRecord]) -> list[MisRecord]:
        return list(
            session.scalars(
                select(model).where(model.student_id.in_(ids)).order_by(model.id)  # type: ignore[attr-defined]
            )
        )

    links = of(StudentContact)
    contact_ids = sorted({link.contact_id for link in links})  # type: ignore[attr-defined]
    results = of(AssessmentResult)
    aspect_ids = sorted({r.aspect_id for r in results})  # type: ignore[attr-defined]
    aspects = list(
        session.scalars(select(AssessmentAspect).where(AssessmentAspect.id.in_(aspect_ids)))
    )
    subject_ids = {a.subject_id for a in aspects if a.subject_id}
    return {
        "student": records_of(session, pupils, keys),  # type: ignore[arg-type]
        "contact": records_of(
            session,
            list(
                session.scalars(
                    select(Contact).where(Contact.id.in_(contact_ids)).order_by(Contact.id)
                )
            ),
            keys,
        ),
        "student_contact": records_of(session, links, keys),
        "sen_need": records_of(session, of(SenNeed), keys),
        "session_mark": records_of(session, of(SessionMark), keys),
        "attendance_summary": records_of(session, of(AttendanceSummary), keys),
        "assessment_aspect": records_of(session, aspects, keys),  # type: ignore[arg-type]
        "assessment_result": records_of(session, results, keys),
        "school_history": records_of(session, of(SchoolHistory), keys),
        "subject": records_of(
            session,
            list(session.scalars(select(Subject).where(Subject.id.in_(subject_ids)))),
            keys,
        ),
    }


def school_records(session: Session, school: School) -> Records:
    """The current pupils, their contacts, classes, teachers and memberships: a OneRoster's."""
    keys = _Keys(session, school.id)
    here = school.id
    pupils = list(
        session.scalars(
            select(Student)
            .where(Student.school_id == here, Student.enrolment_status == "current")
            .order_by(Student.id)
        )
    )
    ids = [p.id for p in pupils]
    links = list(
        session.scalars(
            select(StudentContact)
            .where(StudentContact.student_id.in_(ids))
            .order_by(StudentContact.id)
        )
    )
    contacts = list(
        session.scalars(
            select(Contact)
            .where(Contact.id.in_({link.contact_id for link in links}))
            .order_by(Contact.id)
        )
    )
    classes = list(
        session.scalars(
            select(TeachingClass).where(TeachingClass.school_id == here).order_by(TeachingClass.id)
        )
    )
    memberships = list(
        session.scalars(
            select(ClassMembership)
            .where(ClassMembership.student_id.in_(ids))
            .order_by(ClassMembership.id)
        )
    )
    staff = list(
        session.scalars(
            select(Staff)
            .where(Staff.id.in_({c.staff_id for c in classes if c.staff_id}))
            .order_by(Staff.id)
        )
    )
    subjects = list(
        session.scalars(select(Subject).where(Subject.school_id == here).order_by(Subject.id))
    )
    return {
        "student": records_of(session, pupils, keys),  # type: ignore[arg-type]
        "contact": records_of(session, contacts, keys),  # type: ignore[arg-type]
        "student_contact": records_of(session, links, keys),  # type: ignore[arg-type]
        "staff": records_of(session, staff, keys),  # type: ignore[arg-type]
        "subject": records_of(session, subjects, keys),  # type: ignore[arg-type]
        "class": records_of(session, classes, keys),  # type: ignore[arg-type]
        "class_membership": records_of(session, memberships, keys),  # type: ignore[arg-type]
    }


def build_samples(session: Session, school: School) -> dict[str, bytes]:
    """The sample files (name: bytes) made from one school's MIS rows."""
    details = school_details(session, school)
    return {
        CTF_NAME: write_ctf(cohort_records(session, school), details),
        ONEROSTER_NAME: write_oneroster(school_records(session, school), details),
    }


def demo_samples() -> dict[str, bytes]:
    """The sample files of the fixed demo world: a fresh in-memory database seeded with SEED."""
    from authserver.demo.school_data import seed_school_data
    from authserver.extensions import db

    engine = sa.create_engine("sqlite://")
    db.Model.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            school = School(urn="140001", name="Demo Secondary School", phase="secondary")
            session.add(school)
            session.flush()
            seed_school_data(
                session,
                school,
                students=STUDENTS,
                seed=SEED,
                weeks_of_attendance=WEEKS_OF_ATTENDANCE,
                today=TODAY,
            )
            return build_samples(session, school)
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    """Write the demo samples into the folder named on the command line."""
    folder = Path(argv[1] if len(argv) > 1 else "samples")
    folder.mkdir(exist_ok=True)
    for name, data in demo_samples().items():
        (folder / name).write_bytes(data)
        print(f"{folder / name}: {len(data):,} bytes")


if __name__ == "__main__":
    main(sys.argv)
