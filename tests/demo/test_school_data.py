"""Demo MIS data: deterministic, realistic for the phase, and covering every entity."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from authserver.demo.school_data import seed_school_data
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.mis import (
    ENTITIES,
    MIS_MODELS,
    AttendanceCode,
    Group,
    GroupMembership,
    LessonMark,
    SessionMark,
    Staff,
    Student,
    StudentContact,
    Tombstone,
    delete_record,
)
from authserver.models.organisations import School

TODAY = dt.date(2025, 11, 20)  # a Thursday in the autumn term
# Entities a primary school has no use for: sixth-form study, and statements of SEN,
# which ended before any of today's primary pupils started school.
SECONDARY_ONLY = {"post16_study", "sen_statement"}


@dataclass
class Seeded:
    session: Session
    school: School
    counts: dict[str, int]


@contextmanager
def fresh_database() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    db.Model.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def session() -> Iterator[Session]:
    with fresh_database() as session:
        yield session


@pytest.fixture(scope="module")
def secondary() -> Iterator[Seeded]:
    """The default secondary, seeded once for the tests that only read it."""
    with fresh_database() as session:
        yield seed(session)


def make_school(session: Session, *, phase: str = "secondary", urn: str = "140001") -> School:
    school = School(urn=urn, name=f"Demo {phase.title()} School", phase=phase)
    session.add(school)
    session.flush()
    return school


def seed(
    session: Session,
    *,
    phase: str = "secondary",
    students: int = 120,
    seed: int = 7,
    weeks: int = 2,
    urn: str = "140001",
) -> Seeded:
    school = make_school(session, phase=phase, urn=urn)
    counts = seed_school_data(
        session, school, students=students, seed=seed, weeks_of_attendance=weeks, today=TODAY
    )
    return Seeded(session, school, counts)


def digest(session: Session) -> str:
    """A fingerprint of the pupils and their register marks (timestamps left out)."""
    hasher = hashlib.sha256()
    for model in (Student, SessionMark, LessonMark):
        columns = [c for c in model.__table__.columns if c.name != "updated_at"]
        for row in session.execute(sa.select(*columns).order_by(model.id)):
            hasher.update(repr(tuple(row)).encode())
    return hasher.hexdigest()


def every_table(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every MIS table's rows in id order (timestamps of the run left out)."""
    tables = {}
    for model in MIS_MODELS:
        columns = [c for c in model.__table__.columns if c.name != "updated_at"]
        rows = session.execute(sa.select(*columns).order_by(model.id))
        tables[model.__tablename__] = [tuple(row) for row in rows]
    return tables


def count(session: Session, model: type, school: School) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(model).where(model.school_id == school.id)
    )


def fresh_seed(**options: object) -> str:
    with fresh_database() as session:
        seed(session, **options)  # type: ignore[arg-type]
        return digest(session)


def fresh_tables(**options: object) -> dict[str, list[tuple[object, ...]]]:
    with fresh_database() as session:
        seed(session, **options)  # type: ignore[arg-type]
        return every_table(session)


def test_the_same_seed_gives_the_same_data() -> None:
    assert fresh_seed(seed=11) == fresh_seed(seed=11)


def test_a_different_seed_gives_different_data() -> None:
    assert fresh_seed(seed=11) != fresh_seed(seed=12)


@pytest.mark.parametrize("phase", ["secondary", "primary"])
def test_the_same_seed_gives_the_same_rows_in_every_table(phase: str) -> None:
    first = fresh_tables(phase=phase, seed=5, students=80, weeks=1)
    second = fresh_tables(phase=phase, seed=5, students=80, weeks=1)
    assert set(first) == {model.__tablename__ for model in MIS_MODELS}
    for table, rows in first.items():
        assert second[table] == rows, table


def test_a_different_seed_changes_the_people() -> None:
    first = fresh_tables(seed=5, students=40, weeks=1)
    second = fresh_tables(seed=6, students=40, weeks=1)
    for table in ("mis_students", "mis_staff", "mis_contacts", "mis_session_marks"):
        assert first[table] != second[table], table


@pytest.mark.parametrize("phase", ["secondary", "primary"])
def test_every_entity_has_rows(request: pytest.FixtureRequest, phase: str) -> None:
    if phase == "secondary":
        seeded = request.getfixturevalue("secondary")
    else:
        seeded = seed(request.getfixturevalue("session"), phase=phase)
    expected_empty = set() if phase == "secondary" else SECONDARY_ONLY
    empty = {entity for entity, rows in seeded.counts.items() if rows == 0}
    assert empty == expected_empty
    assert set(seeded.counts) == set(ENTITIES) - {"school"}


def test_counts_match_the_tables(secondary: Seeded) -> None:
    seeded, session = secondary, secondary.session
    for model in MIS_MODELS:
        assert count(session, model, seeded.school) == seeded.counts[model.__entity__]


def test_every_current_read_scope_finds_data(secondary: Seeded) -> None:
    seeded = secondary
    for scope in default_catalogue():
        if scope.deprecated or scope.kind != "read":
            continue
        entities = [e for e in scope.entities if e != "school"]
        assert not entities or any(seeded.counts[e] for e in entities), scope.name


def test_counts_are_roughly_as_asked(session: Session) -> None:
    seeded = seed(session, students=300)
    current = session.scalar(
        sa.select(sa.func.count()).where(Student.enrolment_status == "current")
    )
    assert current == 300
    assert seeded.counts["student"] - 300 <= 10  # a few recent leavers
    staff = seeded.counts["staff"]
    assert 300 / 25 <= staff <= 300 / 8
    links_per_pupil = session.execute(
        sa.select(sa.func.count()).select_from(StudentContact).group_by(StudentContact.student_id)
    ).scalars()
    assert set(links_per_pupil) <= {1, 2}


@pytest.mark.parametrize(
    ("phase", "years"),
    [
        ("primary", {"R", "1", "2", "3", "4", "5", "6"}),
        ("secondary", {"7", "8", "9", "10", "11", "12", "13"}),
    ],
)
def test_year_groups_suit_the_phase(session: Session, phase: str, years: set[str]) -> None:
    seed(session, phase=phase, students=210)
    assert set(session.scalars(sa.select(Student.nc_year).distinct())) == years
    group_years = session.scalars(sa.select(Group.nc_year).where(Group.type == "year"))
    assert set(group_years) == years
    kinds = set(session.scalars(sa.select(Group.type).distinct()))
    assert kinds == {"year", "registration", "house"}


def test_every_pupil_has_morning_and_afternoon_marks_each_school_day(secondary: Seeded) -> None:
    session = secondary.session  # seeded with two weeks of registers
    window = [TODAY - dt.timedelta(days=n) for n in range(1, 15)]
    school_days = {day for day in window if day.weekday() < 5}
    pupils = session.execute(
        sa.select(Student.id, Student.admission_date).where(Student.enrolment_status == "current")
    ).all()
    marks = session.execute(
        sa.select(SessionMark.student_id, SessionMark.date, SessionMark.session)
    )
    have: dict[int, set[tuple[dt.date, str]]] = {}
    for student_id, day, half in marks:
        have.setdefault(student_id, set()).add((day, half))
    for student_id, admitted in pupils:
        expected = {(d, half) for d in school_days if d >= admitted for half in ("AM", "PM")}
        assert have.get(student_id, set()) == expected


def test_register_marks_are_realistic(session: Session) -> None:
    seed(session, students=300, weeks=4)
    known = set(session.scalars(sa.select(AttendanceCode.code)))
    codes = list(session.scalars(sa.select(SessionMark.code)))
    assert set(codes) <= known
    present = sum(code in {"/", "\\", "L"} for code in codes) / len(codes)
    assert 0.88 < present < 0.99
    assert {"/", "\\", "L", "I"} <= set(codes)
    assert set(session.scalars(sa.select(LessonMark.code))) <= known


def test_teachers_are_never_in_two_lessons_at_once(session: Session) -> None:
    seed(session, students=400)
    clashes = session.execute(
        sa.text(
            "SELECT staff_id, date, period_id FROM mis_lessons"
            " GROUP BY staff_id, date, period_id HAVING count(*) > 1"
        )
    ).all()
    assert clashes == []


def test_two_schools_stay_apart(session: Session) -> None:
    first = seed(session, students=60, urn="140001")
    second = seed(session, phase="primary", students=40, urn="140002", seed=8)
    assert count(session, Student, first.school) == first.counts["student"]
    assert count(session, Student, second.school) == second.counts["student"]
    memberships = session.execute(
        sa.select(GroupMembership.school_id, Student.school_id).join(
            Student, Student.id == GroupMembership.student_id
        )
    ).all()
    assert all(left == right for left, right in memberships)


def test_seeding_flushes_but_does_not_commit(session: Session) -> None:
    seed(session, students=30)
    assert session.scalar(sa.select(sa.func.count()).select_from(Staff))
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Staff)) == 0


def test_deleting_a_seeded_pupil_leaves_tombstones(session: Session) -> None:
    seeded = seed(session, students=40)
    pupil = session.scalars(sa.select(Student).order_by(Student.id)).first()
    assert pupil is not None
    pupil_id = pupil.id
    delete_record(session, pupil)
    session.flush()
    assert session.get(Student, pupil_id) is None
    entities = set(session.scalars(sa.select(Tombstone.entity)))
    assert {"student", "session_mark", "group_membership"} <= entities
    assert session.scalars(sa.select(Tombstone.school_id).distinct()).all() == [seeded.school.id]


def test_an_unknown_phase_is_refused(session: Session) -> None:
    school = make_school(session, phase="nursery")
    with pytest.raises(ValueError, match="phase"):
        seed_school_data(session, school, students=10, seed=1, today=TODAY)
