"""The school's MIS agent and the writeback queue: a vendor's write is pulled, oldest first and
paged, applied (the MIS's key kept) or rejected (the record gone, tombstoned), and the vendor
sees it settle and hears of it; another school's connector sees and settles none of it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver import webhooks
from authserver.domain import writeback_queue
from authserver.extensions import db
from authserver.models import Application, WebhookDelivery
from authserver.models.mis import Behaviour, Student, Tombstone
from tests.api.conftest import school_data, seeded_school  # noqa: F401 (fixtures)
from tests.api.test_writeback import Ids, WritebackTokens
from tests.connector.conftest import Agent


@pytest.fixture
def school(seeded_school):  # noqa: F811 (the seeded school in place of an empty one)
    return seeded_school


@pytest.fixture
def vendor(app, client, make_app, school, school_admin, school_data):  # noqa: F811
    tokens = WritebackTokens(app, client, make_app, school, school_admin)
    with app.app_context():
        application = db.session.get(Application, tokens.application.id)
        webhooks.set_webhook(application, "https://hooks.example.com/events")
        db.session.commit()
    return tokens


@pytest.fixture
def ids(app, school) -> Ids:
    return Ids(app, school.id)


@pytest.fixture
def agent(app, client, school) -> Agent:
    return Agent(app, client, school.id)


def behaviour(student: int, **fields) -> dict:
    return {
        "student_id": student,
        "occurred_on": "2031-06-01",
        "behaviour_type": "Late to lesson",
        **fields,
    }


def write(vendor, *students: int):
    response = vendor.post(
        "behaviours", vendor.token("WritebackConduct"), [behaviour(s) for s in students]
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def acknowledge(agent, item_id: int, **body):
    return agent.call("POST", f"writebacks/{item_id}/acknowledgement", body)


def test_a_write_is_pulled_applied_and_the_vendor_sees_it_and_hears_of_it(
    app, vendor, agent, ids, school
) -> None:
    with app.app_context():
        db.session.get(Student, ids.student).mis_id = "PUPIL-1"
        db.session.commit()
    written = write(vendor, ids.student)
    record = written["data"][0]["id"]
    pulled = agent.call("GET", "writebacks")
    assert pulled.status_code == 200
    [item] = pulled.get_json()["data"]
    assert (item["op"], item["entity"], item["record_id"]) == ("create", "behaviour", record)
    assert item["values"]["behaviour_type"] == "Late to lesson"
    assert item["references"]["student_id"] == "PUPIL-1"
    assert item["application"]["client_id"] == vendor.application.client_id
    assert pulled.get_json()["next"] is None

    applied = acknowledge(agent, item["id"], state="applied", mis_id="BEH-77")
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json()["state"] == "applied"
    assert acknowledge(agent, item["id"], state="applied").status_code == 200  # a resend
    assert agent.call("GET", "writebacks").get_json()["data"] == []

    token = vendor.token("Conduct")
    status = vendor.get(f"writebacks/{written['writeback']['id']}", token).get_json()
    assert status["state"] == "applied"
    assert "writeback" not in vendor.get(f"behaviours/{record}", token).get_json()
    with app.app_context():
        assert db.session.get(Behaviour, record).mis_id == "BEH-77"
        assert not list(db.session.scalars(writeback_queue.pending_rows(Behaviour, school.id)))
        event = json.loads(db.session.scalar(select(WebhookDelivery.body)))
    assert event["type"] == "writeback.settled"
    assert event["data"]["writeback_id"] == written["writeback"]["id"]
    assert event["data"]["state"] == "applied"


def test_a_rejected_write_is_gone_with_a_tombstone_and_its_reason(app, vendor, agent, ids) -> None:
    written = write(vendor, ids.student)
    record = written["data"][0]["id"]
    [item] = agent.call("GET", "writebacks").get_json()["data"]
    rejected = acknowledge(agent, item["id"], state="rejected", reason="Unknown behaviour type.")
    assert rejected.status_code == 200
    token = vendor.token("Conduct")
    assert vendor.get(f"behaviours/{record}", token).status_code == 404
    status = vendor.get(f"writebacks/{written['writeback']['id']}", token).get_json()
    assert status["items"][0] | {"settled_at": None} == {
        "index": 0,
        "op": "create",
        "resource": "behaviours",
        "id": record,
        "state": "rejected",
        "reason": "Unknown behaviour type.",
        "settled_at": None,
    }
    with app.app_context():
        assert db.session.scalar(
            select(Tombstone).where(Tombstone.entity == "behaviour", Tombstone.record_id == record)
        )
    again = acknowledge(agent, item["id"], state="applied")
    assert again.status_code == 409


def test_the_queue_is_oldest_first_and_paged(vendor, agent, ids) -> None:
    write(vendor, ids.students[0], ids.students[1])
    write(vendor, ids.students[2])
    first = agent.call("GET", "writebacks?limit=2").get_json()
    second = agent.call("GET", f"writebacks?limit=2&cursor={first['next']}").get_json()
    items = first["data"] + second["data"]
    assert [i["values"]["student_id"] for i in items] == ids.students[:3]
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    assert second["next"] is None
    for query in ("limit=0", "limit=501", "cursor=made-up"):
        assert agent.call("GET", f"writebacks?{query}").status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"state": "rejected"},
        {"state": "rejected", "reason": "  "},
        {"state": "applied", "reason": "fine"},
        {"state": "applied", "mis_id": "x" * 65},
        {"state": "queued"},
        {"state": "applied", "colour": "red"},
    ],
)
def test_a_bad_acknowledgement_is_422_and_settles_nothing(vendor, agent, ids, body) -> None:
    write(vendor, ids.student)
    [item] = agent.call("GET", "writebacks").get_json()["data"]
    assert acknowledge(agent, item["id"], **body).status_code == 422
    assert agent.call("GET", "writebacks").get_json()["data"][0]["id"] == item["id"]


def test_another_schools_connector_neither_sees_nor_settles_this_queue(
    app, client, vendor, agent, ids, make_school
) -> None:
    write(vendor, ids.student)
    [item] = agent.call("GET", "writebacks").get_json()["data"]
    elsewhere = Agent(app, client, make_school(name="Elsewhere").id)
    assert elsewhere.call("GET", "writebacks").get_json()["data"] == []
    assert acknowledge(elsewhere, item["id"], state="applied").status_code == 404
    assert acknowledge(elsewhere, item["id"], state="rejected", reason="x").status_code == 404
    assert agent.call("GET", "writebacks").get_json()["data"][0]["id"] == item["id"]


def test_a_vendors_token_is_not_a_connectors(vendor, agent, ids) -> None:
    write(vendor, ids.student)
    response = agent.call("GET", "writebacks", token=vendor.token("WritebackConduct"))
    assert response.status_code == 401
