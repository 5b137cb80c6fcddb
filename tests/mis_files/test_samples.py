"""The shipped sample files: what the demo world makes, and read back to the demo's rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from authserver.demo.school_data import seed_school_data
from authserver.extensions import db
from authserver.mis_files import read_file, samples
from authserver.models.organisations import School

SAMPLES = Path(__file__).parents[2] / "samples"


@pytest.fixture(scope="module")
def demo_world() -> Iterator[tuple[Session, School]]:
    """The samples' demo school, seeded as `samples.demo_samples` seeds it."""
    engine = sa.create_engine("sqlite://")
    db.Model.metadata.create_all(engine)
    with Session(engine) as session:
        school = School(urn="140001", name="Demo Secondary School", phase="secondary")
        session.add(school)
        session.flush()
        seed_school_data(
            session,
            school,
            students=samples.STUDENTS,
            seed=samples.SEED,
            weeks_of_attendance=samples.WEEKS_OF_ATTENDANCE,
            today=samples.TODAY,
        )
        yield session, school
    engine.dispose()


def test_the_shipped_samples_are_what_the_demo_world_makes(demo_world) -> None:
    session, school = demo_world
    for name, data in samples.build_samples(session, school).items():
        assert (SAMPLES / name).read_bytes() == data, (
            f"samples/{name} is stale: run python -m authserver.mis_files.samples samples"
        )
        assert len(data) < 1_000_000


def project(rows: list[dict], fields: tuple[str, ...], rename: dict | None = None) -> Counter:
    """Rows as a multiset of their values for `fields`, links translated by `rename`."""
    rename = rename or {}
    return Counter(tuple(rename.get(f, lambda v: v)(row.get(f)) for f in fields) for row in rows)


CTF_FIELDS = {
    "student": (
        "upn", "former_upn", "forename", "surname", "legal_forename", "legal_surname",
        "preferred_forename", "preferred_surname", "middle_names", "gender", "date_of_birth",
        "nc_year", "enrolment_status", "ethnicity", "first_language", "fsm_eligible",
        "fsm_ever6", "in_care", "service_child", "sen_status", "address_line1",
        "address_line2", "town", "county", "postcode", "telephone", "email",
    ),
    "contact": (
        "title", "forename", "surname", "middle_names", "email", "home_telephone",
        "mobile_telephone", "work_telephone", "address_line1", "address_line2", "town",
        "county", "postcode",
    ),
    "student_contact": (
        "student_id", "contact_id", "relationship", "parental_responsibility", "priority",
    ),
    "sen_need": ("student_id", "need_type", "description", "rank", "start_date", "end_date"),
    "session_mark": ("student_id", "date", "session", "code"),
    "attendance_summary": (
        "student_id", "start_date", "end_date", "possible_sessions", "attended_sessions",
        "approved_activity_sessions", "authorised_absence_sessions",
        "unauthorised_absence_sessions", "late_sessions",
    ),
    "assessment_result": ("student_id", "value", "recorded_on"),
    "school_history": (
        "student_id", "school_name", "school_urn", "la_estab", "entry_date", "leaving_date",
        "leaving_reason",
    ),
}  # fmt: skip


def test_the_ctf_reads_back_as_the_cohort_rows_on_every_field_it_carries(demo_world) -> None:
    session, school = demo_world
    rows = samples.cohort_records(session, school)
    parsed = read_file((SAMPLES / samples.CTF_NAME).read_bytes(), samples.CTF_NAME)
    # Contacts have no key in a CTF: compare them by who they are.
    names = {
        side: {c["id"]: (c["forename"], c["surname"]) for c in records["contact"]}
        for side, records in (("demo", rows), ("file", parsed.entities))
    }
    for entity, fields in CTF_FIELDS.items():
        expected = project(rows[entity], fields, {"contact_id": names["demo"].get})
        found = project(parsed.entities[entity], fields, {"contact_id": names["file"].get})
        assert found == expected, entity
    assert parsed.unmapped == [
        "Pupil/FSMhistory/FSMinstance/UKcountry: 10 values have no place yet",
        "Pupil/StageAssessments/KeyStage/StageAssessment/Locale: 780 values have no place yet",
    ]


ONEROSTER_FIELDS = {
    "student": (
        "upn", "forename", "surname", "middle_names", "email", "telephone", "nc_year",
        "date_of_birth", "gender",
    ),
    "staff": (
        "id", "forename", "surname", "middle_names", "work_email", "work_telephone",
        "staff_code",
    ),
    "contact": ("id", "forename", "surname", "middle_names", "email", "home_telephone",
                "mobile_telephone"),
    "student_contact": ("student_id", "contact_id", "priority"),
    "subject": ("code", "name"),
    "class": ("id", "code", "name", "subject_id", "nc_year", "staff_id"),
    "class_membership": ("id", "class_id", "student_id", "start_date", "end_date"),
}  # fmt: skip


def test_the_oneroster_bundle_reads_back_as_the_school_rows(demo_world) -> None:
    session, school = demo_world
    rows = samples.school_records(session, school)
    parsed = read_file((SAMPLES / samples.ONEROSTER_NAME).read_bytes(), samples.ONEROSTER_NAME)
    assert (parsed.mode, parsed.school_urn) == ("snapshot", "140001")
    codes = {
        side: {s["id"]: s["code"] for s in records["subject"]}
        for side, records in (("demo", rows), ("file", parsed.entities))
    }
    # The bundle names only the subjects its classes teach.
    taught = {c["subject_id"] for c in rows["class"]}
    rows["subject"] = [s for s in rows["subject"] if s["id"] in taught]
    for entity, fields in ONEROSTER_FIELDS.items():
        expected = project(rows[entity], fields, {"subject_id": codes["demo"].get})
        found = project(parsed.entities[entity], fields, {"subject_id": codes["file"].get})
        assert found == expected, entity
