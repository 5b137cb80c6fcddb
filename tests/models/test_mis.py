"""The MIS data model: conventions every entity follows, and deletion with tombstones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from authserver.extensions import db
from authserver.models.mis import (
    ENTITIES,
    MIS_MODELS,
    AdmissionApplication,
    ClassMembership,
    Lesson,
    MisRecord,
    Photo,
    SessionMark,
    Student,
    TeachingClass,
    Tombstone,
    delete_record,
    entity_fields,
)
from authserver.models.mis.base import mis_models
from authserver.models.organisations import School

POSTGRES_NAME_LIMIT = 63


@pytest.fixture
def session() -> Iterator[Session]:
    """An in-memory SQLite database with every table, enforcing foreign keys like PostgreSQL."""
    engine = sa.create_engine("sqlite://")
    sa.event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    db.Model.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def school(session: Session) -> School:
    school = School(urn="999001", name="Test Academy", phase="secondary")
    session.add(school)
    session.flush()
    return school


def add_student(session: Session, school: School, forename: str = "Ada") -> Student:
    student = Student(school_id=school.id, forename=forename, surname="Lovelace")
    session.add(student)
    session.flush()
    return student


def test_entities_cover_every_mis_model_and_the_public_school() -> None:
    assert ENTITIES["school"] is School
    assert set(mis_models()) == set(MIS_MODELS)
    assert {m.__entity__ for m in MIS_MODELS} == set(ENTITIES) - {"school"}
    assert len(MIS_MODELS) == len(ENTITIES) - 1


@pytest.mark.parametrize("model", MIS_MODELS, ids=lambda m: m.__entity__)
def test_every_mis_model_follows_the_conventions(model: type[MisRecord]) -> None:
    table = model.__table__
    entity = model.__entity__
    assert entity == entity.lower()
    assert entity.replace("_", "").isalnum()
    assert table.name.startswith("mis_")
    assert ENTITIES[entity] is model
    assert not table.c.school_id.nullable
    assert [fk.column.table.name for fk in table.c.school_id.foreign_keys] == ["schools"]
    assert not table.c.updated_at.nullable
    indexed = {tuple(c.name for c in index.columns) for index in table.indexes}
    assert ("school_id", "updated_at") in indexed


@pytest.mark.parametrize("model", MIS_MODELS, ids=lambda m: m.__entity__)
def test_links_to_pupils_and_staff_are_indexed(model: type[MisRecord]) -> None:
    indexed = {index.columns[0].name for index in model.__table__.indexes}
    for column in model.__table__.columns:
        if column.foreign_keys and column.name != "school_id":
            assert column.name in indexed, column.name


def test_entity_fields_leave_out_bookkeeping_and_keep_links() -> None:
    fields = entity_fields("session_mark")
    assert fields == ("student_id", "date", "session", "code", "minutes_late", "comment")
    assert entity_fields("school") == ("name", "urn")
    for entity in ENTITIES:
        assert not {"id", "school_id", "updated_at"} & set(entity_fields(entity))
    with pytest.raises(KeyError):
        entity_fields("spaceship")


def test_student_holds_the_fields_the_scopes_need() -> None:
    fields = set(entity_fields("student"))
    assert {
        "forename", "middle_names", "surname", "preferred_forename", "legal_surname",
        "gender", "date_of_birth", "upn", "former_upn", "admission_number", "nc_year",
        "enrolment_status", "admission_date", "leaving_date", "part_time", "postcode",
        "ethnicity", "religion", "first_language", "english_proficiency", "fsm_eligible",
        "pupil_premium", "service_child", "in_care", "young_carer", "gender_identity",
        "pregnant", "deceased_date", "nhs_number", "notes",
    } <= fields  # fmt: skip
    assert "embargoed" in entity_fields("exam_result")


def test_constraint_and_index_names_fit_postgresql() -> None:
    engine = sa.create_engine("sqlite://")
    db.Model.metadata.create_all(engine)
    names = [
        row[0]
        for row in engine.connect().execute(
            sa.text("SELECT name FROM sqlite_master WHERE type IN ('index', 'table')")
        )
    ]
    engine.dispose()
    assert names
    too_long = [name for name in names if len(name) > POSTGRES_NAME_LIMIT]
    assert not too_long
    for table in db.Model.metadata.tables.values():
        for constraint in table.constraints:
            assert len(str(constraint.name)) <= POSTGRES_NAME_LIMIT, constraint.name


def test_updated_at_is_set_and_moves_on_change(session: Session, school: School) -> None:
    student = add_student(session, school)
    first = student.updated_at
    assert first.tzinfo is not None
    student.nc_year = "8"
    session.flush()
    assert student.updated_at >= first


def test_delete_record_leaves_a_tombstone(session: Session, school: School) -> None:
    student = add_student(session, school)
    student_id = student.id
    delete_record(session, student)
    session.flush()
    assert session.get(Student, student_id) is None
    tombstone = session.scalars(sa.select(Tombstone)).one()
    assert (tombstone.school_id, tombstone.entity, tombstone.record_id) == (
        school.id,
        "student",
        student_id,
    )
    assert tombstone.deleted_at.tzinfo is not None


def test_delete_record_removes_dependants_and_unlinks_optional_links(
    session: Session, school: School
) -> None:
    student = add_student(session, school)
    other = add_student(session, school, forename="Grace")
    marks = [
        SessionMark(school_id=school.id, student_id=pupil.id, date=dt.date(2025, 1, 6),
                    session=part, code="/")
        for pupil, part in ((student, "AM"), (student, "PM"), (other, "AM"))
    ]  # fmt: skip
    photo = Photo(school_id=school.id, person_type="student", person_id=student.id,
                  content_type="image/png", content="iVBORw0KGgo=")  # fmt: skip
    application = AdmissionApplication(school_id=school.id, student_id=student.id,
                                       application_status="Admitted", forename="Ada",
                                       surname="Lovelace")  # fmt: skip
    session.add_all([*marks, photo, application])
    session.flush()
    long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    session.execute(sa.update(AdmissionApplication).values(updated_at=long_ago))

    delete_record(session, student)
    session.flush()

    left = session.scalars(sa.select(SessionMark.student_id)).all()
    assert left == [other.id]
    assert session.scalars(sa.select(Photo)).all() == []
    session.refresh(application)
    assert application.student_id is None
    assert application.updated_at > long_ago
    tombstones = session.scalars(sa.select(Tombstone)).all()
    deleted = sorted(t.entity for t in tombstones if t.reason == "deleted")
    assert deleted == ["photo", "session_mark", "session_mark", "student"]
    assert {(t.owner_type, t.owner_id) for t in tombstones} == {("student", student.id)}
    # The application stays, but no longer as the pupil's: it left their view.
    [moved] = [t for t in tombstones if t.reason == "moved"]
    assert (moved.entity, moved.record_id) == ("admission_application", application.id)


def test_delete_record_cascades_through_several_levels(session: Session, school: School) -> None:
    student = add_student(session, school)
    teaching_class = TeachingClass(school_id=school.id, code="7A/Ma", name="7A Maths")
    session.add(teaching_class)
    session.flush()
    start = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)
    session.add_all([
        ClassMembership(school_id=school.id, class_id=teaching_class.id, student_id=student.id),
        Lesson(school_id=school.id, class_id=teaching_class.id, date=start.date(),
               start_at=start, end_at=start + dt.timedelta(hours=1)),
    ])  # fmt: skip
    session.flush()
    delete_record(session, teaching_class)
    session.commit()
    entities = sorted(session.scalars(sa.select(Tombstone.entity)).all())
    assert entities == ["class", "class_membership", "lesson"]
    assert session.get(Student, student.id) is not None


def test_delete_record_refuses_what_is_not_mis_data(session: Session, school: School) -> None:
    with pytest.raises(TypeError):
        delete_record(session, school)  # type: ignore[arg-type]
