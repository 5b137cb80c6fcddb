"""Writeback: batches are validated against the school and the grant, written all or nothing,
readable afterwards, audited, and refused without the Writeback scope."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from authserver.api.registry import resource_name
from authserver.domain.catalogue import default_catalogue
from authserver.domain.writeback import WRITEBACK_RESOURCES
from authserver.extensions import db
from authserver.models import AuditEvent, Grant
from authserver.models.mis import ENTITIES
from tests.api import test_resources
from tests.api.test_resources import SchoolTokens

CATALOGUE = default_catalogue()
ALL_SCOPES = [s.name for s in CATALOGUE if s.consent_required and not s.deprecated]
WRITE_SCOPES = ["WritebackAttendance", "WritebackConduct", "WritebackAssessment"]


class WritebackTokens(SchoolTokens):
    """An application approved for every scope, read and write."""

    def __init__(self, *args, **kwargs) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(test_resources, "READ_SCOPES", ALL_SCOPES)
            super().__init__(*args, **kwargs)

    def post(self, path: str, token: str, data):
        return self.client.post(
            f"/api/v1/{path}", json={"data": data}, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
def school(seeded_school):
    """The module's seeded school (tests/api/conftest.py) in place of an empty one."""
    return seeded_school


@pytest.fixture
def tokens(app, client, make_app, school, school_admin, school_data) -> WritebackTokens:
    return WritebackTokens(app, client, make_app, school, school_admin)


class Ids:
    """Ids from the seeded school (and another school) that the batches refer to."""

    def __init__(self, app, school_id: int) -> None:
        from authserver.models.mis import AssessmentAspect, Lesson, Staff, Student

        def first(model, *where):
            query = select(model.id).where(model.school_id == school_id, *where)
            return db.session.scalar(query.order_by(model.id))

        with app.app_context():
            self.students = list(
                db.session.scalars(
                    select(Student.id).where(Student.school_id == school_id).order_by(Student.id)
                )
            )
            self.student = self.students[0]
            self.lesson = first(Lesson)
            self.staff = first(Staff)
            self.aspect = first(AssessmentAspect)


@pytest.fixture
def ids(app, school, school_data) -> Ids:
    return Ids(app, school.id)


def count(app, entity: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ENTITIES[entity]))


def session_mark(student: int, **overrides):
    return {"student_id": student, "date": "2031-03-03", "session": "AM", "code": "/"} | overrides


# --- The declaration -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WRITEBACK_RESOURCES))
def test_each_resource_writes_exactly_its_scopes_fields(name) -> None:
    resource = WRITEBACK_RESOURCES[name]
    assert resource.resource == name == resource_name(resource.entity)
    assert CATALOGUE[resource.scope].kind == "write"
    fields = set(resource.required) | set(resource.optional)
    assert fields == set(CATALOGUE[resource.scope].fields_of(resource.entity))
    assert not set(resource.required) & set(resource.optional)
    columns = ENTITIES[resource.entity].__table__.c
    assert {f for f in fields if not columns[f].nullable} == set(resource.required)


# --- Session marks -------------------------------------------------------------------------


def test_session_marks_are_written_and_then_readable(app, tokens, ids, school) -> None:
    token = tokens.token("WritebackAttendance", "Attendance")
    batch = [
        session_mark(ids.students[0]),
        session_mark(ids.students[1], session="PM", code="L", minutes_late=5, comment="Bus"),
    ]
    before = count(app, "session_mark")
    moment = dt.datetime.now(dt.UTC)
    response = tokens.post("session-marks", token, batch)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    written = response.get_json()["data"]
    assert [w["student_id"] for w in written] == ids.students[:2]
    assert written[1] | {"id": 0, "updated_at": ""} == {
        "id": 0,
        "updated_at": "",
        "writeback": {
            "id": response.get_json()["writeback"]["id"],
            "state": "queued",
            "op": "create",
        },
        **batch[1],
    }
    assert written[0]["minutes_late"] is None
    assert count(app, "session_mark") == before + 2
    read = tokens.get("session-marks", token, updated_after=moment.isoformat())
    by_id = {m["id"]: m for m in read.get_json()["data"]}
    for document in written:
        assert by_id[document["id"]] == document
    with app.app_context():
        row = db.session.get(ENTITIES["session_mark"], written[0]["id"])
        assert row.school_id == school.id


def test_writing_a_session_mark_again_replaces_it(app, tokens, ids) -> None:
    token = tokens.token("WritebackAttendance")
    first = tokens.post("session-marks", token, [session_mark(ids.student, comment="x")])
    before = count(app, "session_mark")
    again = tokens.post("session-marks", token, [session_mark(ids.student, code="L")])
    assert again.status_code == 201
    assert again.get_json()["data"][0]["id"] == first.get_json()["data"][0]["id"]
    assert again.get_json()["data"][0]["code"] == "L"
    assert again.get_json()["data"][0]["comment"] is None
    assert count(app, "session_mark") == before


def test_the_same_mark_twice_in_one_batch_is_refused(tokens, ids) -> None:
    token = tokens.token("WritebackAttendance")
    response = tokens.post(
        "session-marks", token, [session_mark(ids.student), session_mark(ids.student, code="L")]
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0] | {"message": ""} == {
        "index": 1,
        "field": "session",
        "message": "",
    }


def _other_schools_student(app, make_school) -> int:
    from authserver.demo.school_data import seed_school_data
    from authserver.models import School
    from authserver.models.mis import Student

    other = make_school(name="Neighbouring School")
    with app.app_context():
        seed_school_data(db.session, db.session.get(School, other.id), students=3, seed=8)
        db.session.commit()
        return db.session.scalar(select(Student.id).where(Student.school_id == other.id))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"student_id": 99_999_999}, "student_id"),
        ("other school", "student_id"),
        ({"code": "Q"}, "code"),
        ({"date": "2031-02-30"}, "date"),
        ({"date": "03/03/2031"}, "date"),
        ({"session": "EVE"}, "session"),
        ({"session": None}, "session"),
        ({"colour": "red"}, "colour"),
        ({"student_id": "12"}, "student_id"),
        ({"minutes_late": True}, "minutes_late"),
        ({"minutes_late": -3}, "minutes_late"),
        ({"comment": "x" * 501}, "comment"),
    ],
)
def test_a_bad_session_mark_is_422_and_nothing_is_written(
    app, tokens, ids, make_school, change, field
) -> None:
    if change == "other school":
        change = {"student_id": _other_schools_student(app, make_school)}
    bad = {k: v for k, v in (session_mark(ids.students[2]) | change).items() if v is not None}
    batch = [session_mark(ids.students[0]), session_mark(ids.students[1]), bad]
    before = count(app, "session_mark")
    response = tokens.post("session-marks", tokens.token("WritebackAttendance"), batch)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(2, field)]
    assert count(app, "session_mark") == before


def test_a_pupil_outside_the_grants_year_group_is_unknown(
    app,
    client,
    make_app,
    school,
    school_admin,
    school_data,
    ids,
) -> None:
    from authserver.domain.grants import Restrictions
    from authserver.models.mis.structure import Group, GroupMembership

    with app.app_context():
        year = db.session.scalar(
            select(Group)
            .where(Group.school_id == school.id, Group.type == "year")
            .order_by(Group.id)
        )
        members = set(
            db.session.scalars(
                select(GroupMembership.student_id).where(GroupMembership.group_id == year.id)
            )
        )
        year_id = year.id
    restricted = WritebackTokens(
        app, client, make_app, school, school_admin, restrictions=Restrictions(group_ids=(year_id,))
    )
    token = restricted.token("WritebackAttendance")
    inside = next(s for s in ids.students if s in members)
    outside = next(s for s in ids.students if s not in members)
    before = count(app, "session_mark")
    response = restricted.post(
        "session-marks", token, [session_mark(inside), session_mark(outside)]
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "student_id")]
    assert errors[0]["message"] == f"Unknown student_id: {outside}."
    assert count(app, "session_mark") == before
    assert restricted.post("session-marks", token, [session_mark(inside)]).status_code == 201


def test_a_missing_required_field_names_it(tokens, ids) -> None:
    mark = session_mark(ids.student)
    del mark["date"]
    response = tokens.post("session-marks", tokens.token("WritebackAttendance"), [mark])
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "date"


def test_without_the_writeback_scope_it_is_403_naming_the_scope(app, tokens, ids) -> None:
    before = count(app, "session_mark")
    token = tokens.token("Attendance", "WritebackConduct")
    response = tokens.post("session-marks", token, [session_mark(ids.student)])
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert response.get_json()["scope"] == "WritebackAttendance"
    assert 'scope="WritebackAttendance"' in response.headers["WWW-Authenticate"]
    assert count(app, "session_mark") == before


def test_a_batch_over_1000_is_refused(app, tokens, ids) -> None:
    batch = [
        session_mark(ids.students[i % len(ids.students)], date=f"2031-01-{1 + i // 60:02d}")
        for i in range(1001)
    ]
    before = count(app, "session_mark")
    response = tokens.post("session-marks", tokens.token("WritebackAttendance"), batch)
    assert response.status_code == 413
    assert count(app, "session_mark") == before


@pytest.mark.parametrize(
    "body", [b"not json", b'{"data": {"student_id": 1}}', b"[]", b'{"data": []}']
)
def test_a_body_that_is_not_a_batch_is_400(tokens, body) -> None:
    response = tokens.client.post(
        "/api/v1/session-marks",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {tokens.token('WritebackAttendance')}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_a_write_is_audited_and_marks_the_grant_used(app, tokens, ids, school) -> None:
    tokens.post(
        "session-marks",
        tokens.token("WritebackAttendance"),
        [session_mark(ids.students[0]), session_mark(ids.students[1], comment="Late bus")],
    )
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:written"))
        assert event.school_id == school.id
        assert event.detail["entity"] == "session_mark"
        assert event.detail["count"] == 2
        assert event.detail["fields"] == ["code", "comment", "date", "session", "student_id"]
        assert db.session.scalar(select(Grant.last_used_at)) is not None


def test_a_refused_batch_is_not_audited_as_written(app, tokens, ids) -> None:
    tokens.post(
        "session-marks", tokens.token("WritebackAttendance"), [session_mark(ids.student, code="Q")]
    )
    with app.app_context():
        assert not db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "data:written")
        )


# --- The other resources -----------------------------------------------------------------


def _valid(name: str, ids: Ids) -> dict:
    return {
        "lesson-marks": {"student_id": ids.student, "lesson_id": ids.lesson, "code": "L"},
        "behaviours": {
            "student_id": ids.student,
            "occurred_on": "2031-03-03",
            "behaviour_type": "Disruption in lesson",
            "points": -1,
            "staff_id": ids.staff,
        },
        "achievements": {
            "student_id": ids.student,
            "occurred_on": "2031-03-03",
            "achievement_type": "Merit",
            "points": 2,
            "award": "Star of the week",
        },
        "assessment-results": {
            "student_id": ids.student,
            "aspect_id": ids.aspect,
            "result_set": "Spring 2031",
            "value": "6+",
            "recorded_on": "2031-03-03",
            "staff_id": ids.staff,
        },
    }[name]


BAD = [
    ("lesson-marks", {"lesson_id": 99_999_999}, "lesson_id"),
    ("lesson-marks", {"code": "??"}, "code"),
    ("behaviours", {"occurred_on": "yesterday"}, "occurred_on"),
    ("behaviours", {"staff_id": 99_999_999}, "staff_id"),
    ("achievements", {"points": "two"}, "points"),
    ("achievements", {"achievement_type": None}, "achievement_type"),
    ("assessment-results", {"aspect_id": 99_999_999}, "aspect_id"),
    ("assessment-results", {"result_set": 7}, "result_set"),
]


@pytest.mark.parametrize(
    "name", ["lesson-marks", "behaviours", "achievements", "assessment-results"]
)
def test_a_valid_batch_is_written(app, tokens, ids, name) -> None:
    resource = WRITEBACK_RESOURCES[name]
    before = count(app, resource.entity)
    response = tokens.post(name, tokens.token(resource.scope), [_valid(name, ids)])
    assert response.status_code == 201, response.get_json()
    [document] = response.get_json()["data"]
    assert {k: document[k] for k in _valid(name, ids)} == _valid(name, ids)
    assert set(document) == {
        "id",
        "updated_at",
        "writeback",
        *resource.required,
        *resource.optional,
    }
    assert count(app, resource.entity) == before + 1


@pytest.mark.parametrize(("name", "change", "field"), BAD)
def test_an_invalid_batch_is_422_and_nothing_is_written(
    app, tokens, ids, name, change, field
) -> None:
    resource = WRITEBACK_RESOURCES[name]
    bad = {k: v for k, v in (_valid(name, ids) | change).items() if v is not None}
    before = count(app, resource.entity)
    response = tokens.post(name, tokens.token(*WRITE_SCOPES), [_valid(name, ids), bad])
    assert response.status_code == 422, response.get_json()
    assert [(e["index"], e["field"]) for e in response.get_json()["errors"]] == [(1, field)]
    assert count(app, resource.entity) == before


@pytest.mark.parametrize("name", sorted(WRITEBACK_RESOURCES))
def test_each_resource_needs_its_own_writeback_scope(tokens, ids, name) -> None:
    resource = WRITEBACK_RESOURCES[name]
    others = [s for s in WRITE_SCOPES if s != resource.scope]
    response = tokens.post(name, tokens.token(*others), [{}])
    assert response.status_code == 403
    assert response.get_json()["scope"] == resource.scope


def test_reading_is_unchanged_by_the_write_routes(tokens) -> None:
    response = tokens.get("behaviours", tokens.token("Conduct"), limit=1)
    assert response.status_code == 200
    assert tokens.get("behaviours", tokens.token("WritebackConduct")).status_code == 403


def test_the_database_holds_one_session_mark_per_pupil_date_and_session(app, ids, school) -> None:
    from sqlalchemy.exc import IntegrityError

    from authserver.models.mis.attendance import SessionMark

    with app.app_context():
        mark = {
            "school_id": school.id,
            "student_id": ids.students[0],
            "date": dt.date(2031, 3, 4),
            "session": "AM",
            "code": "/",
        }
        db.session.add(SessionMark(**mark))
        db.session.commit()
        db.session.add(SessionMark(**mark))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_a_batch_that_loses_a_race_is_409_and_writes_nothing(app, tokens, ids, monkeypatch) -> None:
    from sqlalchemy.exc import IntegrityError

    from authserver.domain import writeback as domain

    def lose_the_race(*args, **kwargs):
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(domain, "write", lose_the_race)
    before = count(app, "session_mark")
    response = tokens.post(
        "session-marks", tokens.token("WritebackAttendance"), [session_mark(ids.students[0])]
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert count(app, "session_mark") == before


def test_every_writeback_answer_conforms_to_the_document(client, tokens, ids) -> None:
    from tests.api.test_openapi import assert_conforms

    document = client.get("/api/v1/openapi.json").get_json()
    token = tokens.token("WritebackAttendance", "Attendance")
    path = "/api/v1/session-marks"
    for batch, status in [
        ([session_mark(ids.students[0], date="2031-04-04")], 201),
        ([session_mark(ids.students[0], code="?"), "not an object"], 422),
        ([{"student_id": ids.student}], 422),
        ([], 400),
        ([session_mark(ids.student)] * 1001, 413),
    ]:
        response = tokens.post("session-marks", token, batch)
        assert response.status_code == status, response.get_json()
        assert_conforms(document, "POST", path, response)


def test_a_leaver_is_unknown_to_a_grant_without_three_year_history(app, tokens, ids) -> None:
    """A writeback cannot tell a vendor that a pupil it may not see exists."""
    from authserver.models.mis import Student

    with app.app_context():
        leaver = db.session.scalar(
            select(Student.id).where(
                Student.id.in_(ids.students), Student.enrolment_status == "leaver"
            )
        )
    assert leaver is not None, "the demo school has recent leavers"
    token = tokens.token("WritebackAttendance")
    response = tokens.post("session-marks", token, [session_mark(leaver)])
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["message"] == f"Unknown student_id: {leaver}."
