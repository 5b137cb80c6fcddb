"""Snapshots: every record of some entities, sent in batches and committed; what they no
longer hold is removed with tombstones, behind a guard against emptying a school by mistake."""

from __future__ import annotations

from sqlalchemy import func, select

from authserver import sync_runs
from authserver.domain import sync_health
from authserver.extensions import db
from authserver.models.jobs import Job
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.students import Student
from authserver.models.sync import StagedRecord
from authserver.models.users import User
from tests.connector.conftest import pupil, upn


def pupils(app, school_id) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Student.upn).where(Student.school_id == school_id)))


def marks_of(serials) -> list[dict]:
    return [
        {"id": f"m{s}", "student_id": upn(s), "date": "2026-11-30", "session": "AM", "code": "/"}
        for s in serials
    ]


def test_a_snapshot_in_batches_replaces_what_was_there(app, agent, world) -> None:
    first = agent.snapshot(
        "autumn-1",
        [{"student": [pupil(i) for i in range(1, 6)]}, {"session_mark": marks_of(range(1, 6))}],
    )
    assert first.status_code == 200, first.get_json()
    assert pupils(app, world.school_id) == {upn(i) for i in range(1, 6)}
    # The next snapshot drops pupil 5 (one of five is within... no: 20% is the limit, so
    # allow it) and adds pupil 6; pupil 5's mark goes with them.
    second = agent.snapshot(
        "autumn-2",
        [
            {
                "student": [pupil(i) for i in (1, 2, 3, 4, 6)],
                "session_mark": marks_of((1, 2, 3, 4, 6)),
            }
        ],
    )
    assert second.status_code == 200, second.get_json()
    counts = second.get_json()["counts"]
    assert counts["student"] == {"added": 1, "changed": 0, "removed": 1, "unchanged": 4}
    assert pupils(app, world.school_id) == {upn(i) for i in (1, 2, 3, 4, 6)}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SessionMark)) == 5


def test_a_snapshot_that_would_remove_too_many_pupils_needs_saying_so(app, agent, world) -> None:
    agent.snapshot("full", [{"student": [pupil(i) for i in range(1, 11)]}])
    # A wrong filter in the MIS: only three pupils come through.
    refused = agent.snapshot("filtered", [{"student": [pupil(i) for i in range(1, 4)]}])
    assert refused.status_code == 422
    [problem] = refused.get_json()["errors"]
    assert problem["rule"] == "mass_deletion"
    assert "7 of the school's 10 pupils" in problem["message"]
    assert len(pupils(app, world.school_id)) == 10
    intended = agent.snapshot(
        "filtered-on-purpose", [{"student": [pupil(i) for i in range(1, 4)]}], allow=True
    )
    assert intended.status_code == 200
    assert len(pupils(app, world.school_id)) == 3


def test_a_snapshot_links_only_to_what_it_holds(app, agent, world) -> None:
    agent.changes({"student": {"upsert": [pupil(1), pupil(2)]}})
    answer = agent.snapshot(
        "links", [{"student": [pupil(1)], "session_mark": marks_of((1, 2))}], allow=True
    )
    assert answer.status_code == 422
    [problem] = answer.get_json()["errors"]
    assert problem["rule"] == "unknown_link"
    assert problem["batch"] == "0"
    assert problem["index"] == 1
    assert pupils(app, world.school_id) == {upn(1), upn(2)}


def test_batches_of_a_snapshot_are_checked_as_they_arrive_and_retried_safely(agent) -> None:
    agent.call("PUT", "snapshots/s1", {"entities": ["student"]})
    bad = agent.call("PUT", "snapshots/s1/batches/a", {"student": {"upsert": [{"upn": "x"}]}})
    assert bad.status_code == 422
    assert {p["field"] for p in bad.get_json()["errors"]} >= {"upn", "forename", "surname"}
    wrong_entity = agent.call("PUT", "snapshots/s1/batches/b", {"contact": {"upsert": []}})
    assert wrong_entity.status_code == 422
    body = {"student": {"upsert": [pupil(1)]}}
    assert agent.call("PUT", "snapshots/s1/batches/c", body).status_code == 201
    assert agent.call("PUT", "snapshots/s1/batches/c", body).status_code == 200
    other = {"student": {"upsert": [pupil(2)]}}
    assert agent.call("PUT", "snapshots/s1/batches/c", other).status_code == 409
    status = agent.call("GET", "snapshots/s1").get_json()
    assert (status["state"], status["records_received"], status["batches"]) == (
        "receiving",
        1,
        1,
    )
    assert agent.call("PUT", "snapshots/s1", {"entities": ["contact"]}).status_code == 409
    assert agent.call("GET", "snapshots/unknown").status_code == 404
    done = agent.call("POST", "snapshots/s1/commit", {})
    assert done.status_code == 200
    assert agent.call("POST", "snapshots/s1/commit", {}).get_json()["state"] == "succeeded"
    late = agent.call("PUT", "snapshots/s1/batches/d", other)
    assert late.status_code == 409


def test_a_paused_school_takes_nothing_and_says_so(app, agent, world) -> None:
    agent.changes({"student": {"upsert": [pupil(1)]}})
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        sync_runs.pause(db.session, world.school_id, by=admin, reason="Year rollover")
        db.session.commit()
    refused = agent.changes({"student": {"upsert": [pupil(2)]}})
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "sync_paused"
    assert "Year rollover" in refused.get_json()["error_description"]
    assert refused.headers["Retry-After"]
    status = agent.call("GET", "status").get_json()
    assert status["sync"]["state"] == "paused"
    with app.app_context():
        assert sync_health.health_of(db.session, world.school_id).state == "paused"
        sync_runs.resume(db.session, world.school_id, by=db.session.get(User, world.admin_id))
        db.session.commit()
    assert agent.changes({"student": {"upsert": [pupil(2)]}}).status_code == 200
    assert pupils(app, world.school_id) == {upn(1), upn(2)}


def many_pupils(count: int) -> list[dict]:
    return [pupil(i, upn=upn(i % 1000, year=10 + i // 1000)) for i in range(count)]


def test_a_snapshot_larger_than_a_batch_is_applied_in_the_background(
    app, agent, world, monkeypatch
) -> None:
    monkeypatch.setattr(sync_runs, "DROP_CHUNK", 4_000)
    records = many_pupils(10_001)
    agent.call("PUT", "snapshots/big", {"entities": ["student"]})
    for number, start in enumerate(range(0, len(records), 5_000)):
        body = {"student": {"upsert": records[start : start + 5_000]}}
        sent = agent.call("PUT", f"snapshots/big/batches/{number}", body, compress=True)
        assert sent.status_code == 201, sent.get_json()
    committed = agent.call("POST", "snapshots/big/commit", {})
    assert committed.status_code == 202
    assert committed.headers["Location"] == "/connector/v1/snapshots/big"
    # Without a broker the job runs as soon as the commit is made, in this process.
    status = agent.call("GET", "snapshots/big").get_json()
    assert status["state"] == "succeeded", status
    assert status["counts"]["student"]["added"] == 10_001
    assert status["progress"]["done"] == status["progress"]["total"]
    assert len(pupils(app, world.school_id)) == 10_001
    with app.app_context():
        # The staged records went after the apply committed, a chunk at a time.
        assert db.session.scalar(select(func.count()).select_from(StagedRecord)) == 0
        cleanups = db.session.scalars(
            select(Job.result).where(Job.kind == sync_runs.DROP_STAGED_JOB)
        ).all()
        assert [result["removed"] for result in cleanups] == [10_001]


def test_a_background_snapshot_refused_keeps_its_problems_and_nothing_else(
    app, agent, world
) -> None:
    records = many_pupils(10_001)
    agent.call("PUT", "snapshots/bad", {"entities": ["student", "session_mark"]})
    for number, start in enumerate(range(0, len(records), 5_000)):
        body = {"student": {"upsert": records[start : start + 5_000]}}
        agent.call("PUT", f"snapshots/bad/batches/{number}", body)
    stray = {**marks_of([1])[0], "student_id": upn(1, la="999")}
    agent.call("PUT", "snapshots/bad/batches/marks", {"session_mark": {"upsert": [stray]}})
    assert agent.call("POST", "snapshots/bad/commit", {}).status_code == 202
    status = agent.call("GET", "snapshots/bad").get_json()
    assert status["state"] == "failed"
    [problem] = status["errors"]
    assert (problem["rule"], problem["batch"], problem["entity"]) == (
        "unknown_link",
        "marks",
        "session_mark",
    )
    assert pupils(app, world.school_id) == set()


def test_a_snapshot_with_no_records_is_not_committed(app, agent, world) -> None:
    agent.changes({"student": {"upsert": [pupil(1)]}})
    agent.call("PUT", "snapshots/empty", {"entities": ["student"]})
    refused = agent.call("PUT", "snapshots/empty/batches/1", {"student": {"upsert": [{}]}})
    assert refused.status_code == 422
    answer = agent.call("POST", "snapshots/empty/commit", {})
    assert answer.status_code == 409
    assert "no records" in answer.get_json()["error_description"]
    assert pupils(app, world.school_id) == {upn(1)}
