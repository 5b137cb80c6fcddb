"""Batches of changes over /connector/v1: applied whole or not at all, once per batch id,
every problem named by entity, record, field and rule, and seen by the vendor at once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.base import Tombstone
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.students import Student
from authserver.models.sync import SyncRun
from authserver.models.webhooks import WebhookDelivery
from tests.api.school_view import Vendor
from tests.connector.conftest import pupil, upn

FAMILY = {
    "student": {
        "upsert": [
            pupil(1, forename="Zoë", surname="O'Brien-Nkemelu", middle_names="Åsa Lúcia"),
            pupil(2, forename="Siân", surname="d'Arcy"),
        ]
    },
    "contact": {"upsert": [{"id": "c-1", "forename": "Ngozi", "surname": "O'Brien-Nkemelu"}]},
    "student_contact": {
        "upsert": [
            {"id": "sc-1", "student_id": upn(1), "contact_id": "c-1", "relationship": "Mother"},
            {"id": "sc-2", "student_id": upn(2), "contact_id": "c-1", "relationship": "Aunt"},
        ]
    },
    "session_mark": {
        "upsert": [
            {"id": "m-1", "student_id": upn(1), "date": "2026-11-30", "session": "AM", "code": "/"}
        ]
    },
}


def count(app, model, school_id) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(model).where(model.school_id == school_id)
        )


def test_a_batch_arrives_whole_and_the_vendor_reads_it_with_every_character(
    app, agent, world
) -> None:
    response = agent.changes(FAMILY, "first")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "succeeded"
    assert body["counts"]["student"] == {"added": 2, "changed": 0, "removed": 0, "unchanged": 0}
    token = world.token()
    pupils = Vendor(world).get("students", token).get_json()["data"]
    assert {(p["forename"], p["surname"]) for p in pupils} == {
        ("Zoë", "O'Brien-Nkemelu"),
        ("Siân", "d'Arcy"),
    }
    with app.app_context():
        assert db.session.scalar(select(Student.middle_names).where(Student.forename == "Zoë")) == (
            "Åsa Lúcia"
        )
    links = Vendor(world).get("student-contacts", token).get_json()["data"]
    assert {link["relationship"] for link in links} == {"Mother", "Aunt"}
    # The vendor's ids are the server's own; the MIS's keys stay on the connector's side.
    assert all(isinstance(p["id"], int) for p in pupils)
    assert "mis_id" not in pupils[0]


def test_a_retried_batch_is_answered_as_the_first_time_and_writes_nothing_more(
    app, agent, world
) -> None:
    first = agent.changes(FAMILY, "retry-me")
    again = agent.changes(FAMILY, "retry-me")
    assert again.status_code == first.status_code == 200
    assert again.get_json() == first.get_json()
    assert count(app, Student, world.school_id) == 2
    assert count(app, SessionMark, world.school_id) == 1
    other = agent.changes({"student": {"upsert": [pupil(3)]}}, "retry-me")
    assert other.status_code == 409
    assert other.get_json()["error"] == "conflict"
    assert count(app, Student, world.school_id) == 2


def test_an_unchanged_record_sent_again_does_not_look_changed(app, agent, world) -> None:
    agent.changes(FAMILY)
    before = dt.datetime.now(dt.UTC)
    again = agent.changes(FAMILY).get_json()
    assert again["counts"]["student"]["unchanged"] == 2
    assert again["counts"]["student"]["changed"] == 0
    token = world.token()
    fresh = Vendor(world).get("students", token, updated_after=before.isoformat()).get_json()
    assert fresh["data"] == []
    changed = agent.changes({"student": {"upsert": [pupil(1, forename="Zoe")]}}).get_json()
    assert changed["counts"]["student"]["changed"] == 1
    fresh = Vendor(world).get("students", token, updated_after=before.isoformat()).get_json()
    assert [p["forename"] for p in fresh["data"]] == ["Zoe"]


def test_a_record_sent_whole_clears_what_it_leaves_out(app, agent, world) -> None:
    agent.changes({"student": {"upsert": [pupil(1, telephone="01632 960001")]}})
    agent.changes({"student": {"upsert": [pupil(1)]}})
    with app.app_context():
        assert db.session.scalar(select(Student.telephone)) is None


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (
            {"student": {"upsert": [pupil(1), {**pupil(2), "upn": "A823401214002"}]}},
            {"entity": "student", "index": 1, "field": "upn", "rule": "upn"},
        ),
        (
            {"student": {"upsert": [{**pupil(1), "shoe_size": 5}]}},
            {"entity": "student", "index": 0, "field": "shoe_size", "rule": "unknown_field"},
        ),
        (
            {"student": {"upsert": [{k: v for k, v in pupil(1).items() if k != "surname"}]}},
            {"entity": "student", "index": 0, "field": "surname", "rule": "required"},
        ),
        (
            {"student": {"upsert": [pupil(1, date_of_birth="2013-02-30")]}},
            {"entity": "student", "index": 0, "field": "date_of_birth", "rule": "date"},
        ),
        (
            {"student": {"upsert": [pupil(1, fsm_eligible="yes")]}},
            {"entity": "student", "index": 0, "field": "fsm_eligible", "rule": "boolean"},
        ),
        (
            {"student": {"upsert": [pupil(1, forename="Bad\u0007Bell")]}},
            {"entity": "student", "index": 0, "field": "forename", "rule": "text"},
        ),
        (
            {"student": {"upsert": [pupil(1), pupil(1)]}},
            {"entity": "student", "index": 1, "field": "upn", "rule": "duplicate"},
        ),
        (
            {
                "student": {"upsert": [pupil(1)]},
                "student_contact": {
                    "upsert": [{"id": "sc", "student_id": upn(1), "contact_id": "nobody"}]
                },
            },
            {
                "entity": "student_contact",
                "index": 0,
                "field": "contact_id",
                "rule": "unknown_link",
            },
        ),
    ],
    ids=[
        "check-letter",
        "unknown-field",
        "required",
        "impossible-date",
        "boolean",
        "control-character",
        "duplicate",
        "dangling-link",
    ],
)
def test_a_bad_record_is_named_and_nothing_of_its_batch_is_kept(
    app, agent, world, batch, expected
) -> None:
    response = agent.changes(batch)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert any(expected.items() <= problem.items() for problem in body["errors"]), body
    assert count(app, Student, world.school_id) == 0
    assert count(app, StudentContact, world.school_id) == 0


def test_a_batch_of_more_than_ten_thousand_records_is_refused_whole(app, agent, world) -> None:
    records = [pupil(i, upn=upn(i % 1000, year=10 + i // 1000)) for i in range(10_001)]
    response = agent.changes({"student": {"upsert": records}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["rule"] == "too_many"
    assert count(app, Student, world.school_id) == 0


def test_ndjson_and_gzip_arrive_the_same_as_json(app, agent, world) -> None:
    lines = [
        {"entity": "student", "upsert": pupil(1)},
        {"entity": "contact", "upsert": {"id": "c", "forename": "A", "surname": "B"}},
    ]
    response = agent.changes(ndjson=lines, compress=True)
    assert response.status_code == 200, response.get_json()
    assert count(app, Student, world.school_id) == 1
    assert count(app, Contact, world.school_id) == 1


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"raw": b"{not json", "content_type": "application/json"}, 422),
        ({"raw": b"<xml/>", "content_type": "application/xml"}, 415),
        ({"raw": b"\x1f\x8b\x08garbage", "content_type": "application/json"}, 422),
        ({"raw": b"[]", "content_type": "application/json"}, 422),
    ],
    ids=["not-json", "wrong-type", "not-gzip-but-raw", "not-an-object"],
)
def test_a_body_that_is_not_a_batch_gets_a_clear_error(agent, options, status) -> None:
    response = agent.changes(**options)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_a_body_claiming_gzip_that_is_not_is_refused(agent) -> None:
    response = agent.client.put(
        "/connector/v1/changes/gz",
        data=b"plain text",
        headers={"Authorization": f"Bearer {agent.token()}", "Content-Encoding": "gzip"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "gzip" in response.get_json()["error_description"]


def test_a_batch_id_with_odd_characters_is_refused(agent) -> None:
    response = agent.changes({"student": {"upsert": [pupil(1)]}}, "with space")
    assert response.status_code == 400


def test_deleting_a_pupil_takes_their_records_and_tells_the_vendor(app, agent, world) -> None:
    agent.changes(FAMILY)
    vendor = Vendor(world)
    token = world.token()
    since = dt.datetime.now(dt.UTC)
    vendor.get("students", token)
    response = agent.changes({"student": {"delete": [upn(1)]}})
    assert response.get_json()["counts"]["student"]["removed"] == 1
    assert count(app, SessionMark, world.school_id) == 0
    gone = vendor.get("deletions", token, updated_after=since.isoformat()).get_json()["data"]
    assert {entry["resource"] for entry in gone} >= {
        "students",
        "session-marks",
        "student-contacts",
    }
    # Deleting again (a retried delta under a new id) is not an error.
    assert agent.changes({"student": {"delete": [upn(1)]}}).status_code == 200


def test_a_mark_moved_to_another_pupil_leaves_the_first_pupils_view(app, agent, world) -> None:
    agent.changes(FAMILY)
    mark = dict(FAMILY["session_mark"]["upsert"][0], student_id=upn(2))
    agent.changes({"session_mark": {"upsert": [mark]}})
    with app.app_context():
        moved = db.session.scalars(select(Tombstone).where(Tombstone.entity == "session_mark"))
        assert [(t.reason, t.owner_type) for t in moved] == [("moved", "student")]


def test_a_pupil_whose_upn_changes_keeps_their_records(app, agent, world) -> None:
    agent.changes(FAMILY)
    with app.app_context():
        first_id = db.session.scalar(select(Student.id).where(Student.mis_id == upn(1)))
    renamed = pupil(901, forename="Zoë", former_upn=upn(1))
    response = agent.changes({"student": {"upsert": [renamed]}})
    assert response.get_json()["counts"]["student"] == {
        "added": 0,
        "changed": 1,
        "removed": 0,
        "unchanged": 0,
    }
    with app.app_context():
        row = db.session.get(Student, first_id)
        assert (row.upn, row.mis_id, row.former_upn) == (upn(901), upn(901), upn(1))
        assert db.session.scalar(select(func.count()).select_from(SessionMark)) == 1


def test_every_connected_vendor_hears_which_entities_changed(app, agent, world) -> None:
    with app.app_context():
        from authserver.models.applications import Application

        application = db.session.get(Application, world.application_id)
        application.webhook_url = "https://hooks.example.com/school"
        db.session.commit()
    agent.changes(FAMILY)
    with app.app_context():
        [delivery] = db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "school.data_changed")
        )
        import json

        data = json.loads(delivery.body)["data"]
    assert data["entities"] == ["contact", "session_mark", "student", "student_contact"]
    assert data["counts"]["student"] == {"added": 2, "changed": 0, "removed": 0}


def test_a_failed_batch_is_recorded_for_the_school(app, agent, world) -> None:
    agent.changes({"student": {"upsert": [{**pupil(1), "upn": "nonsense"}]}}, "bad-one")
    with app.app_context():
        run = db.session.scalar(select(SyncRun).where(SyncRun.external_id == "bad-one"))
        assert run.state == "failed"
        assert "UPN" in run.summary
        assert run.errors[0]["field"] == "upn"


def test_what_the_connector_is_answered_is_what_the_document_says(app, agent, world) -> None:
    from tests.api.test_openapi import assert_conforms

    document = app.test_client().get("/api/v1/openapi.json").get_json()
    answers = [
        ("PUT", "changes/doc-1", agent.changes(FAMILY, "doc-1")),
        ("PUT", "changes/doc-2", agent.changes({"student": {"upsert": [{}]}}, "doc-2")),
        ("PUT", "changes/doc-3", agent.changes(raw=b"<x/>", content_type="text/xml")),
        ("GET", "status", agent.call("GET", "status")),
        ("PUT", "snapshots/d", agent.call("PUT", "snapshots/d", {"entities": ["student"]})),
        ("PUT", "snapshots/d/batches/1", agent.call("PUT", "snapshots/d/batches/1", FAMILY)),
        ("GET", "snapshots/d", agent.call("GET", "snapshots/d")),
        ("POST", "snapshots/d/commit", agent.call("POST", "snapshots/d/commit", {})),
        ("GET", "snapshots/nope", agent.call("GET", "snapshots/nope")),
        ("GET", "status", agent.call("GET", "status", token="not-a-token")),
        ("GET", "writebacks", agent.call("GET", "writebacks")),
        ("GET", "writebacks?limit=0", agent.call("GET", "writebacks?limit=0")),
        (
            "POST",
            "writebacks/1/acknowledgement",
            agent.call("POST", "writebacks/1/acknowledgement", {"state": "applied"}),
        ),
    ]
    for method, path, response in answers:
        assert_conforms(document, method, f"/connector/v1/{path}", response)


def test_a_welsh_pupils_upn_is_accepted_by_its_check_letter(app, agent, world) -> None:
    welsh = upn(1, la="681", estab="2001")  # Cardiff: python-stdnum knows England's only
    assert agent.changes({"student": {"upsert": [{**pupil(1), "upn": welsh}]}}).status_code == 200
    wrong = ("A" if welsh[0] != "A" else "B") + welsh[1:]
    refused = agent.changes({"student": {"upsert": [{**pupil(2), "upn": wrong}]}})
    assert refused.get_json()["errors"][0]["rule"] == "upn"


def test_each_vendor_hears_only_of_what_it_may_read(app, agent, world, make_app) -> None:
    """Two connections: the whole school with every scope, and a narrowed one reading pupils
    only. The narrowed one hears of pupils alone, without the school-wide counts."""
    import json

    from authserver.domain import grants
    from authserver.models import Application, School, User
    from authserver.models.mis.structure import Group

    narrow_app, _ = make_app(name="Names only", required={"StudentLite": "Names."}, optional={})
    with app.app_context():
        for application_id in (world.application_id, narrow_app.id):
            application = db.session.get(Application, application_id)
            application.webhook_url = f"https://hooks.example.com/{application_id}"
        group = db.session.scalar(select(Group).where(Group.school_id == world.school_id))
        application = db.session.get(Application, narrow_app.id)
        grants.approve(
            application,
            db.session.get(School, world.school_id),
            approver=db.session.get(User, world.admin_id),
            choice=grants.scope_choice(application, None, None),
            restrictions=grants.Restrictions(group_ids=(group.id,)),
        )
        db.session.commit()
    agent.changes(FAMILY)
    with app.app_context():
        events = {
            d.application_id: json.loads(d.body)["data"]
            for d in db.session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.event_type == "school.data_changed")
            )
        }
    assert set(events[world.application_id]["entities"]) == {
        "contact",
        "session_mark",
        "student",
        "student_contact",
    }
    assert "counts" in events[world.application_id]
    assert events[narrow_app.id]["entities"] == ["student"]
    assert "counts" not in events[narrow_app.id]


def test_a_large_batch_is_taken_and_a_body_over_the_limit_is_refused(app, agent, world) -> None:
    # 6,000 pupils with notes: 2.4 MB of JSON, far over the rest of the server's 1 MB.
    records = [
        pupil(i, upn=upn(i % 1000, year=10 + i // 1000), notes="x" * 300) for i in range(6_000)
    ]
    assert agent.changes({"student": {"upsert": records}}).status_code == 200
    too_big = agent.changes(raw=b"{" + b" " * (33 * 1024 * 1024) + b"}")
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]
