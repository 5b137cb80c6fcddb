"""Random snapshots and batches of changes, applied in order, leave the school's data equal,
record for record and field for field, to what the MIS last said (a model kept beside it)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select

from authserver.domain import ingest
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.models.mis import ENTITIES
from tests.connector.conftest import upn

PUPILS = [upn(serial) for serial in range(1, 9)]
CONTACTS = [f"c{n}" for n in range(1, 6)]
# What the model compares, per entity (the record's key field is compared through mis_id).
FIELDS = {
    "student": ("forename", "surname", "nc_year", "fsm_eligible", "date_of_birth"),
    "contact": ("forename", "surname", "email"),
    "student_contact": ("student_id", "contact_id", "relationship", "priority"),
    "session_mark": ("student_id", "date", "session", "code"),
}
ORDER = ("student", "contact", "student_contact", "session_mark")

names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
optional_text = st.none() | names


@st.composite
def pupil_records(draw: Any, key: str) -> dict[str, Any]:
    return {
        "upn": key,
        "forename": draw(names),
        "surname": draw(names),
        "nc_year": draw(st.sampled_from(["7", "8", "9"])),
        "fsm_eligible": draw(st.booleans()),
        "date_of_birth": draw(
            st.none() | st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10)
        ),
    }


@st.composite
def contact_records(draw: Any, key: str) -> dict[str, Any]:
    return {
        "id": key,
        "forename": draw(names),
        "surname": draw(names),
        "email": draw(st.none() | st.emails().filter(lambda e: len(e) <= 200)),
    }


def link_record(draw: Any, pupil: str, contact: str) -> dict[str, Any]:
    return {
        "id": f"{pupil}:{contact}",
        "student_id": pupil,
        "contact_id": contact,
        "relationship": draw(optional_text.filter(lambda t: t is None or len(t) <= 50)),
        "priority": draw(st.none() | st.integers(1, 9)),
    }


def mark_record(draw: Any, pupil: str, day: int) -> dict[str, Any]:
    return {
        "id": f"{pupil}:{day}",
        "student_id": pupil,
        "date": f"2026-11-{day:02d}",
        "session": "AM",
        "code": draw(st.sampled_from(["/", "\\", "N", "L"])),
    }


class Mirror:
    """What the MIS holds now, by entity and key, with each record as it was sent."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {e: {} for e in ORDER}

    def drop_pupil(self, key: str) -> None:
        self.records["student"].pop(key, None)
        for entity in ("student_contact", "session_mark"):
            self.records[entity] = {
                k: r for k, r in self.records[entity].items() if r["student_id"] != key
            }

    def drop_contact(self, key: str) -> None:
        self.records["contact"].pop(key, None)
        self.records["student_contact"] = {
            k: r for k, r in self.records["student_contact"].items() if r["contact_id"] != key
        }


def snapshot(draw: Any) -> dict[str, list[dict[str, Any]]]:
    pupils = draw(st.lists(st.sampled_from(PUPILS), unique=True, max_size=len(PUPILS)))
    contacts = draw(st.lists(st.sampled_from(CONTACTS), unique=True, max_size=len(CONTACTS)))
    links = draw(
        st.lists(
            st.tuples(st.sampled_from(pupils), st.sampled_from(contacts)), unique=True, max_size=6
        )
        if pupils and contacts
        else st.just([])
    )
    marks = draw(
        st.lists(st.tuples(st.sampled_from(pupils), st.integers(1, 3)), unique=True, max_size=6)
        if pupils
        else st.just([])
    )
    return {
        "student": [draw(pupil_records(key)) for key in pupils],
        "contact": [draw(contact_records(key)) for key in contacts],
        "student_contact": [link_record(draw, p, c) for p, c in links],
        "session_mark": [mark_record(draw, p, d) for p, d in marks],
    }


def delta(draw: Any, mirror: Mirror) -> tuple[dict[str, list], dict[str, list[str]]]:
    upserts: dict[str, list] = {e: [] for e in ORDER}
    new_pupils = draw(st.lists(st.sampled_from(PUPILS), unique=True, max_size=3))
    new_contacts = draw(st.lists(st.sampled_from(CONTACTS), unique=True, max_size=2))
    upserts["student"] = [draw(pupil_records(key)) for key in new_pupils]
    upserts["contact"] = [draw(contact_records(key)) for key in new_contacts]
    pupils = sorted(set(mirror.records["student"]) | set(new_pupils))
    contacts = sorted(set(mirror.records["contact"]) | set(new_contacts))
    if pupils and contacts:
        links = draw(
            st.lists(
                st.tuples(st.sampled_from(pupils), st.sampled_from(contacts)),
                unique=True,
                max_size=3,
            )
        )
        upserts["student_contact"] = [link_record(draw, p, c) for p, c in links]
    if pupils:
        marks = draw(
            st.lists(st.tuples(st.sampled_from(pupils), st.integers(1, 3)), unique=True, max_size=3)
        )
        upserts["session_mark"] = [mark_record(draw, p, d) for p, d in marks]
    # Deletions name records the MIS held before this batch and that it does not also upsert.
    deletes: dict[str, list[str]] = {}
    for entity in ORDER:
        held = sorted(
            set(mirror.records[entity]) - {ingest_key(entity, r) for r in upserts[entity]}
        )
        if held and draw(st.booleans()):
            deletes[entity] = draw(st.lists(st.sampled_from(held), unique=True, max_size=2))
    return upserts, deletes


def ingest_key(entity: str, record: dict[str, Any]) -> str:
    return record["upn"] if entity == "student" else record["id"]


def apply_to_mirror(mirror: Mirror, upserts: dict, deletes: dict, whole: bool) -> None:
    if whole:
        mirror.records = {e: {} for e in ORDER}
    for entity in ORDER:
        for record in upserts.get(entity, []):
            mirror.records[entity][ingest_key(entity, record)] = record
    for entity in reversed(ORDER):
        for key in deletes.get(entity, []):
            if entity == "student":
                mirror.drop_pupil(key)
            elif entity == "contact":
                mirror.drop_contact(key)
            else:
                mirror.records[entity].pop(key, None)


def as_changes(upserts: dict, deletes: dict) -> Changes:
    changes = Changes()
    for entity, records in upserts.items():
        if records:
            changes.upserts[entity] = [(Origin(i), r) for i, r in enumerate(records)]
    for entity, keys in deletes.items():
        if keys:
            changes.deletes[entity] = [(Origin(i), k) for i, k in enumerate(keys)]
    return changes


def stored(school_id: int) -> dict[str, dict[str, dict[str, Any]]]:
    """The school's data, read back as the MIS would have sent it (links as MIS keys)."""
    keys: dict[str, dict[int, str]] = {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entity in ORDER:
        table = inspect(ENTITIES[entity]).local_table
        rows = db.session.execute(
            select(table.c.id, table.c.mis_id, *(table.c[f] for f in FIELDS[entity])).where(
                table.c.school_id == school_id
            )
        ).all()
        keys[entity] = {row.id: row.mis_id for row in rows}
        out[entity] = {}
        for row in rows:
            values = {f: getattr(row, f) for f in FIELDS[entity]}
            if "student_id" in values:
                values["student_id"] = keys["student"][values["student_id"]]
            if "contact_id" in values:
                values["contact_id"] = keys["contact"][values["contact_id"]]
            out[entity][row.mis_id] = values
    return out


def expected(mirror: Mirror) -> dict[str, dict[str, dict[str, Any]]]:
    import datetime as dt

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entity in ORDER:
        out[entity] = {}
        for key, record in mirror.records[entity].items():
            values = {f: record.get(f) for f in FIELDS[entity]}
            for name in ("date", "date_of_birth"):
                if values.get(name) is not None:
                    values[name] = dt.date.fromisoformat(values[name])
            if entity == "student" and values["fsm_eligible"] is None:
                values["fsm_eligible"] = False
            out[entity][key] = values
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_snapshots_and_changes_in_any_order_leave_what_the_mis_last_said(
    app, make_school, data
) -> None:
    school = make_school()
    with app.app_context():
        try:
            mirror = Mirror()
            for _ in range(data.draw(st.integers(1, 6), label="steps")):
                if not any(mirror.records.values()) or data.draw(st.booleans(), label="whole"):
                    upserts, deletes = snapshot(data.draw), {}
                    whole = True
                else:
                    upserts, deletes = delta(data.draw, mirror)
                    whole = False
                if not (any(upserts.values()) or any(deletes.values())) and not whole:
                    continue
                ingest.apply(
                    db.session,
                    school.id,
                    as_changes(upserts, deletes),
                    snapshot=frozenset(ORDER) if whole else frozenset(),
                    allow_mass_deletion=True,
                )
                apply_to_mirror(mirror, upserts, deletes, whole)
                db.session.expire_all()
                assert stored(school.id) == expected(mirror)
        finally:
            db.session.rollback()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_dry_run_counts_what_the_real_run_does_and_writes_nothing(app, make_school, data) -> None:
    school = make_school()
    with app.app_context():
        try:
            mirror = Mirror()
            for step in range(data.draw(st.integers(1, 4), label="steps")):
                if step == 0 or data.draw(st.booleans(), label="whole"):
                    upserts, deletes, whole = snapshot(data.draw), {}, True
                else:
                    upserts, deletes = delta(data.draw, mirror)
                    whole = False
                options = {
                    "snapshot": frozenset(ORDER) if whole else frozenset(),
                    "allow_mass_deletion": True,
                }
                before = stored(school.id)
                planned = ingest.apply(
                    db.session, school.id, as_changes(upserts, deletes), dry_run=True, **options
                )
                db.session.expire_all()
                assert stored(school.id) == before
                done = ingest.apply(db.session, school.id, as_changes(upserts, deletes), **options)
                for entity in ORDER:
                    real, dry = done.get(entity), planned.get(entity)
                    if real is None:
                        continue
                    # A dry run counts what it removes directly, not the cascades that follow.
                    assert (dry.added, dry.changed, dry.unchanged) == (
                        real.added,
                        real.changed,
                        real.unchanged,
                    )
                apply_to_mirror(mirror, upserts, deletes, whole)
                db.session.expire_all()
        finally:
            db.session.rollback()


def test_merge_keeps_what_a_file_does_not_carry(app, make_school) -> None:
    school = make_school()
    with app.app_context():
        try:
            whole = {"upn": PUPILS[0], "forename": "Ann", "surname": "Lee", "religion": "Quaker"}
            ingest.apply(db.session, school.id, as_changes({"student": [whole]}, {}))
            partial = {"upn": PUPILS[0], "forename": "Anne", "surname": "Lee"}
            counts = ingest.apply(
                db.session, school.id, as_changes({"student": [partial]}, {}), merge=True
            )
            assert counts["student"].changed == 1
            from authserver.models.mis.students import Student

            row = db.session.scalar(select(Student).where(Student.school_id == school.id))
            assert (row.forename, row.religion) == ("Anne", "Quaker")
            ingest.apply(db.session, school.id, as_changes({"student": [partial]}, {}))
            db.session.expire_all()
            assert db.session.get(Student, row.id).religion is None  # whole: cleared
        finally:
            db.session.rollback()
