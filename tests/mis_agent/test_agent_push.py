"""The reference connector's push: entities in dependency order, batches that never send a
record before what it links to, ids that make a rerun harmless, and refusals in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from authserver import sync_runs
from authserver.extensions import db
from authserver.mis_files import ParsedFile, read_file
from authserver.models import Role, User
from authserver.models.mis import Student
from authserver.models.sync import SyncRun
from mis_agent import push
from mis_agent.connector_api import AgentError, SyncPaused
from tests.connector.conftest import upn

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CTF = SAMPLES / "ctf-year7-cohort.xml"
ONEROSTER = SAMPLES / "oneroster-school.zip"
PUPIL = upn(1)


def sample(path: Path) -> ParsedFile:
    return read_file(path.read_bytes(), path.name)


def links(entity: str, record: dict, entities: set[str]) -> set[str]:
    return {k.removesuffix("_id") for k in record if k.endswith("_id")} & entities - {entity}


# --- Planning ---------------------------------------------------------------------------------


def test_entities_follow_the_entities_they_link_to() -> None:
    roster = sample(ONEROSTER)
    assert list(roster.entities).index("class") < list(roster.entities).index("subject")
    order = push.dependency_order(roster.entities)
    assert order.index("subject") < order.index("class")
    for entity in order:
        for record in roster.entities[entity]:
            assert all(
                order.index(t) < order.index(entity) for t in links(entity, record, {*order})
            )
    ctf = sample(CTF)
    assert push.dependency_order(ctf.entities) == list(ctf.entities)  # already in order


def test_deletions_come_last_dependants_first() -> None:
    parsed = ParsedFile(
        format="oneroster",
        mode="delta",
        entities={
            "class_membership": [{"id": "m2", "class_id": "c2", "student_id": PUPIL}],
            "student": [{"upn": PUPIL}],
            "class": [{"id": "c2"}],
        },
        unmapped=[],
        source="test",
        deletions={"student": ["B1"], "class_membership": ["m1"], "class": ["c1"]},
    )
    stream = list(push.changes_of(parsed))
    assert [(e, op) for e, op, _ in stream] == [
        ("student", "upsert"),
        ("class", "upsert"),
        ("class_membership", "upsert"),
        ("class_membership", "delete"),
        ("class", "delete"),
        ("student", "delete"),
    ]


@pytest.mark.parametrize("size", [1, 7, 500, 5_000])
def test_batches_hold_at_most_their_size_and_never_run_ahead_of_a_link(size: int) -> None:
    parsed = sample(CTF)
    sent: dict[str, set[str]] = {}
    bodies = list(push.batches(push.changes_of(parsed), size))
    total = sum(len(records) for records in parsed.entities.values())
    assert len(bodies) == -(-total // size)
    for body in bodies:
        held = sum(len(ops["upsert"]) for ops in body.values())
        assert held <= size
        arriving = {entity: set() for entity in parsed.entities}
        for entity, ops in body.items():
            for record in ops["upsert"]:
                arriving[entity].add(record.get("id") or record.get("upn"))
        for entity, ops in body.items():
            for record in ops["upsert"]:
                for target in links(entity, record, set(parsed.entities)):
                    key = record[f"{target}_id"]
                    assert key in sent.get(target, set()) | arriving[target], (entity, target)
        for entity, keys in arriving.items():
            sent.setdefault(entity, set()).update(keys)


def test_the_same_file_and_batch_size_get_the_same_ids() -> None:
    digest = push.file_digest(CTF.read_bytes())
    assert push.run_id(digest, 500) == push.run_id(push.file_digest(CTF.read_bytes()), 500)
    assert push.run_id(digest, 500) != push.run_id(digest, 5_000)


# --- Against the server in this process --------------------------------------------------------


def runs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SyncRun))


def test_a_ctf_is_pushed_as_changes_and_a_rerun_is_answered_as_the_first(app, agent_api) -> None:
    summary = push.push_file(agent_api, CTF, batch_size=500)
    assert summary.mode == "delta"
    assert summary.batches == 4  # 1,570 records
    assert summary.counts["student"] == {"added": 30, "changed": 0, "removed": 0, "unchanged": 0}
    assert summary.counts["session_mark"]["added"] == 582
    made = runs(app)
    again = push.push_file(agent_api, CTF, batch_size=500)
    assert again.counts == summary.counts  # the server replayed its first answers
    assert runs(app) == made
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Student)) == 30


def test_a_bundle_is_pushed_as_a_snapshot_in_gzip_batches(app, agent_api) -> None:
    summary = push.push_file(agent_api, ONEROSTER, batch_size=1_000)
    assert (summary.mode, summary.batches) == ("snapshot", 4)  # 3,680 records
    assert summary.counts["class_membership"]["added"] == 2_480
    assert summary.counts["subject"]["added"] == 18
    rerun = push.push_file(agent_api, ONEROSTER, batch_size=1_000)
    assert rerun.counts == summary.counts


def test_a_paused_school_stops_the_push_with_its_reason(app, agent_api, school, make_user) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school=school)
    with app.app_context():
        sync_runs.pause(db.session, school.id, by=db.session.get(User, admin.id), reason="Rollover")
        db.session.commit()
    with pytest.raises(SyncPaused, match="Rollover") as paused:
        push.push_file(agent_api, CTF)
    assert paused.value.exit_code == 3


def test_refused_records_are_listed_by_entity_index_and_field(agent_api) -> None:
    parsed = ParsedFile(
        format="ctf",
        mode="delta",
        entities={
            "student": [{"upn": PUPIL, "forename": "Zoë", "surname": "O'Brien"}],
            "student_contact": [{"id": "sc-1", "student_id": PUPIL, "contact_id": "nobody"}],
        },
        unmapped=[],
        source="test",
    )
    summary = push.Summary("test", "delta")
    with pytest.raises(AgentError, match="refused batch 1; nothing of it was applied") as refused:
        push.push_changes(agent_api, parsed, "refused", summary, 100)
    assert any(line.startswith("student_contact[0].contact_id: ") for line in refused.value.details)
