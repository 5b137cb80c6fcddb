"""The ingest bench must send what a real connector may send, and its driver must work end to
end, or `make bench --ingest` would time refusals. Tiny sizes: no timing here."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from authserver.domain import ingest
from authserver.extensions import db
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.students import Student
from bench import ingest as bench_ingest


def records() -> bench_ingest.Records:
    return bench_ingest.school_records(pupils=12, days=2)


def test_the_snapshot_comes_in_valid_batches_within_the_limit() -> None:
    school = records()
    sent = list(bench_ingest.batches(school, size=40))
    assert sum(len(p["upsert"]) for b in sent for p in b.values()) == bench_ingest.count(school)
    for number, batch in enumerate(sent):
        changes = ingest.changes_from_json(batch, str(number))
        assert changes.size() <= 40
        for entity, items in changes.upserts.items():
            for origin, record in items:
                _, problems = ingest.clean_record(entity, origin, record)
                assert problems == [], (entity, record)


def test_the_delta_is_about_one_percent_and_says_what_follows_from_it() -> None:
    school = bench_ingest.school_records(pupils=200, days=10)
    change = bench_ingest.delta(school, 1)
    assert 0.005 < change.size / bench_ingest.count(school) < 0.02
    assert {"upsert", "delete"} <= set(change.body["student"])
    gone = set(change.body["student"]["delete"])
    # A deleted pupil's marks leave with them; the records after the delta name no one gone.
    assert not any(r["student_id"] in gone for r in change.after["session_mark"].values())
    assert ingest.changes_from_json(change.body).size() == change.size


def flask_send(client: Any) -> bench_ingest.Send:
    """A `Send` through the test client; one request at a time, since the tests' database is
    one connection that threads must not share at once."""
    lock = threading.Lock()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
        with lock:
            response = client.open(path, method=method, headers=headers, data=body)
        return response.status_code, response.get_json(silent=True)

    return send


def test_the_bench_drives_snapshots_a_delta_and_reads_through_the_endpoints(app, client) -> None:
    with app.app_context():
        world = bench_ingest.build(app.config["SETTINGS"])
    send = flask_send(client)
    result = bench_ingest.measure(
        send,
        lambda: send,
        world,
        pupils=12,
        days=2,
        batch_records=40,
        readers=1,
        read_seconds=0.2,
    )

    assert result["snapshot"]["counts"]["student"]["added"] == 12
    assert result["snapshot"]["counts"]["session_mark"]["added"] == 12 * 2 * 2
    nightly = result["nightly_snapshot"]["counts"]
    assert nightly["student"]["removed"] >= 1
    assert nightly["session_mark"]["changed"] >= 1
    assert result["delta"]["state"] == "succeeded"
    assert result["reads_alone"]["requests"] > 0
    assert result["reads_alone"]["errors"] == 0
    with app.app_context():
        school = world["school_id"]
        pupils = db.session.scalar(select(func.count()).where(Student.school_id == school))
        marks = db.session.scalar(select(func.count()).where(SessionMark.school_id == school))
    assert pupils > 0
    assert marks > 0
    assert "| sqlite |" in bench_ingest.markdown({"backends": {"sqlite": result}})
