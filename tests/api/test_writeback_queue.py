"""Writes on their way to the MIS: queued and marked pending, followed to applied or rejected
(with a webhook), retried safely with Idempotency-Key, corrected and withdrawn only by the
application that wrote them, and refused for fields the school left out."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from authserver import webhooks
from authserver.domain import idempotency, writeback_queue
from authserver.domain.grants import Restrictions
from authserver.domain.writeback import WRITEBACK_RESOURCES
from authserver.extensions import db
from authserver.models import Application, AuditEvent, WebhookDelivery
from authserver.models.mis import ENTITIES, Tombstone
from authserver.models.writebacks import WritebackItem, WritebackState
from tests.api.test_writeback import WRITE_SCOPES, WritebackTokens, _valid, count, session_mark
from tests.api.test_writeback import Ids as _Ids


@pytest.fixture
def school(seeded_school):
    return seeded_school


@pytest.fixture
def tokens(app, client, make_app, school, school_admin, school_data) -> WritebackTokens:
    return WritebackTokens(app, client, make_app, school, school_admin)


@pytest.fixture
def ids(app, school, school_data) -> _Ids:
    return _Ids(app, school.id)


def valid(name: str, ids: _Ids, index: int = 0) -> dict:
    if name == "session-marks":
        return session_mark(ids.students[index], date="2031-05-05")
    return _valid(name, ids) | {"student_id": ids.students[index]}


def post(tokens: WritebackTokens, name: str, data, key: str | None = None, token=None):
    headers = {"Authorization": f"Bearer {token or tokens.token()}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return tokens.client.post(f"/api/v1/{name}", json={"data": data}, headers=headers)


def settle(app, item_id: int, state: str, reason: str | None = None) -> None:
    """The school's MIS reports an item, as its connector does."""
    with app.app_context():
        item = db.session.get(WritebackItem, item_id)
        writeback_queue.settle(db.session, item, WritebackState(state), by="test", reason=reason)
        db.session.commit()


def items_of(app, writeback_id: int) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(WritebackItem.id)
                .where(WritebackItem.writeback_id == writeback_id)
                .order_by(WritebackItem.id)
            )
        )


# --- The queue and the vendor's view of it ------------------------------------------------------


def test_a_write_is_queued_pending_and_followed_to_applied_with_a_webhook(
    app, tokens, ids, receiver_url
) -> None:
    with app.app_context():
        webhooks.set_webhook(db.session.get(Application, tokens.application.id), receiver_url)
        db.session.commit()
    response = post(
        tokens, "behaviours", [valid("behaviours", ids, 0), valid("behaviours", ids, 1)]
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    status = body["writeback"]
    assert (status["state"], status["queued"]) == ("queued", 2)
    assert [i["state"] for i in status["items"]] == ["queued", "queued"]
    assert response.headers["Location"] == f"/api/v1/writebacks/{status['id']}"
    record = body["data"][0]["id"]
    token = tokens.token("Conduct")
    read = tokens.get(f"behaviours/{record}", token).get_json()
    assert read["writeback"] == {"id": status["id"], "state": "queued", "op": "create"}

    first, second = items_of(app, status["id"])
    settle(app, first, "applied")
    followed = tokens.get(f"writebacks/{status['id']}", token).get_json()
    assert [i["state"] for i in followed["items"]] == ["applied", "queued"]
    assert "writeback" not in tokens.get(f"behaviours/{record}", token).get_json()
    with app.app_context():
        assert not db.session.scalar(select(func.count()).select_from(WebhookDelivery))
    settle(app, second, "applied")
    followed = tokens.get(f"writebacks/{status['id']}", token).get_json()
    assert followed["state"] == "applied"
    assert followed["settled_at"]
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        event = json.loads(delivery.body)
    assert event["type"] == "writeback.settled"
    assert event["data"] | {"school_urn": ""} == {
        "school_id": tokens.school.id,
        "school_urn": "",
        "writeback_id": status["id"],
        "resource": "behaviours",
        "state": "applied",
        "applied": 2,
        "rejected": 0,
    }


@pytest.fixture
def receiver_url() -> str:
    return "https://hooks.example.com/events"


def test_a_rejected_write_leaves_the_view_with_a_tombstone(app, tokens, ids) -> None:
    response = post(tokens, "achievements", [valid("achievements", ids)])
    status = response.get_json()["writeback"]
    record = response.get_json()["data"][0]["id"]
    [item] = items_of(app, status["id"])
    settle(app, item, "rejected", reason="No such achievement type in the MIS.")
    token = tokens.token("Conduct")
    assert tokens.get(f"achievements/{record}", token).status_code == 404
    followed = tokens.get(f"writebacks/{status['id']}", token).get_json()
    assert followed["state"] == "rejected"
    assert followed["items"][0]["reason"] == "No such achievement type in the MIS."
    with app.app_context():
        assert db.session.scalar(
            select(Tombstone).where(
                Tombstone.entity == "achievement", Tombstone.record_id == record
            )
        )


def test_a_replaced_session_mark_that_the_mis_rejects_gets_its_old_values_back(
    app, tokens, ids
) -> None:
    first = post(tokens, "session-marks", [valid("session-marks", ids) | {"comment": "first"}])
    settle(app, items_of(app, first.get_json()["writeback"]["id"])[0], "applied")
    again = post(tokens, "session-marks", [valid("session-marks", ids) | {"code": "L"}])
    assert again.get_json()["data"][0]["writeback"]["op"] == "update"
    settle(app, items_of(app, again.get_json()["writeback"]["id"])[0], "rejected", "Locked.")
    mark = first.get_json()["data"][0]["id"]
    read = tokens.get(f"session-marks/{mark}", tokens.token("Attendance")).get_json()
    assert (read["code"], read["comment"]) == ("/", "first")
    assert "writeback" not in read


def test_another_applications_or_schools_write_is_not_found(
    app, client, make_app, school, school_admin, tokens, ids
) -> None:
    status = post(tokens, "behaviours", [valid("behaviours", ids)]).get_json()["writeback"]
    other = WritebackTokens(app, client, make_app, school, school_admin)
    response = other.get(f"writebacks/{status['id']}", other.token("Conduct"))
    assert response.status_code == 404
    assert tokens.get("writebacks/99999", tokens.token("Conduct")).status_code == 404


def test_a_settled_item_settles_only_once(app, tokens, ids) -> None:
    status = post(tokens, "behaviours", [valid("behaviours", ids)]).get_json()["writeback"]
    [item] = items_of(app, status["id"])
    settle(app, item, "applied")
    settle(app, item, "applied")  # the same report again changes nothing
    with app.app_context(), pytest.raises(writeback_queue.AlreadySettled):
        writeback_queue.settle(
            db.session,
            db.session.get(WritebackItem, item),
            WritebackState.REJECTED,
            by="test",
            reason="x",
        )


# --- Idempotency-Key ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WRITEBACK_RESOURCES))
def test_a_retried_batch_with_the_same_key_is_answered_again_and_not_written_again(
    app, tokens, ids, name
) -> None:
    resource = WRITEBACK_RESOURCES[name]
    batch = [valid(name, ids, 0), valid(name, ids, 1)]
    key = str(uuid.uuid4())
    before = count(app, resource.entity)
    first = post(tokens, name, batch, key)
    assert first.status_code == 201, first.get_json()
    with app.app_context():
        queued = db.session.scalar(select(func.count()).select_from(WritebackItem))
    again = post(tokens, name, batch, key)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert count(app, resource.entity) == before + 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WritebackItem)) == queued
    changed = post(tokens, name, [valid(name, ids, 2)], key)
    assert changed.status_code == 422
    assert "different request" in changed.get_json()["error_description"]
    quoted = post(tokens, name, batch, f'"{key}"')
    assert quoted.get_json() == first.get_json()


def test_a_request_while_the_first_with_its_key_is_in_progress_is_409(app, tokens, ids) -> None:
    with app.app_context():
        idempotency.start(
            db.session,
            application_id=tokens.application.id,
            school_id=tokens.school.id,
            key="in-flight",
            request_fingerprint="0" * 64,
        )
        db.session.commit()
    before = count(app, "behaviour")
    response = post(tokens, "behaviours", [valid("behaviours", ids)], "in-flight")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert count(app, "behaviour") == before


def test_a_failed_write_frees_its_key_and_keys_are_per_application(
    app, client, make_app, school, school_admin, tokens, ids
) -> None:
    bad = post(tokens, "behaviours", [valid("behaviours", ids) | {"staff_id": 99_999_999}], "k1")
    assert bad.status_code == 422
    good = post(tokens, "behaviours", [valid("behaviours", ids)], "k1")
    assert good.status_code == 201
    other = WritebackTokens(app, client, make_app, school, school_admin)
    theirs = post(
        other, "behaviours", [valid("behaviours", ids, 1)], "k1", other.token(*WRITE_SCOPES)
    )
    assert theirs.status_code == 201
    assert theirs.get_json()["writeback"]["id"] != good.get_json()["writeback"]["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400(tokens, ids, key) -> None:
    response = post(tokens, "behaviours", [valid("behaviours", ids)], key)
    assert response.status_code == 400


def test_expired_keys_are_pruned_after_a_day(app, tokens, ids) -> None:
    import datetime as dt

    from authserver.models import IdempotencyKey
    from authserver.models.columns import utcnow

    post(tokens, "behaviours", [valid("behaviours", ids)], "old")
    with app.app_context():
        assert idempotency.prune(db.session, utcnow() + dt.timedelta(hours=23)) == 0
        assert idempotency.prune(db.session, utcnow() + dt.timedelta(hours=24, seconds=1)) == 1
        db.session.commit()
        assert not db.session.scalar(select(func.count()).select_from(IdempotencyKey))


# --- Corrections and withdrawals --------------------------------------------------------------


def _patch(tokens, name, record, changes, token=None):
    return tokens.client.patch(
        f"/api/v1/{name}/{record}",
        json=changes,
        headers={"Authorization": f"Bearer {token or tokens.token(*WRITE_SCOPES)}"},
    )


def _delete(tokens, name, record, token=None):
    return tokens.client.delete(
        f"/api/v1/{name}/{record}",
        headers={"Authorization": f"Bearer {token or tokens.token(*WRITE_SCOPES)}"},
    )


@pytest.mark.parametrize("name", sorted(WRITEBACK_RESOURCES))
def test_an_application_corrects_its_own_record_audited_and_queued(app, tokens, ids, name) -> None:
    written = post(tokens, name, [valid(name, ids)]).get_json()["data"][0]
    field = {"session-marks": "comment", "lesson-marks": "comment"}.get(name, "comment")
    response = _patch(tokens, name, written["id"], {field: "Corrected"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["data"][field] == "Corrected"
    assert body["data"]["writeback"]["op"] == "update"
    with app.app_context():
        item = db.session.get(WritebackItem, items_of(app, body["writeback"]["id"])[0])
        assert (item.op, item.values) == ("update", {field: "Corrected"})
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:corrected"))
        assert event.detail["record_id"] == written["id"]


def test_a_correction_is_validated_and_keeps_required_fields(tokens, ids) -> None:
    record = post(tokens, "behaviours", [valid("behaviours", ids)]).get_json()["data"][0]["id"]
    for changes, field in [
        ({"behaviour_type": None}, "behaviour_type"),
        ({"occurred_on": "soon"}, "occurred_on"),
        ({"colour": "red"}, "colour"),
        ({"student_id": 99_999_999}, "student_id"),
    ]:
        response = _patch(tokens, "behaviours", record, changes)
        assert response.status_code == 422, changes
        assert [(e["index"], e["field"]) for e in response.get_json()["errors"]] == [(0, field)]
    assert _patch(tokens, "behaviours", record, {}).status_code == 422


def test_another_applications_record_and_the_mis_own_are_not_found(
    app, client, make_app, school, school_admin, tokens, ids
) -> None:
    mine = post(tokens, "behaviours", [valid("behaviours", ids)]).get_json()["data"][0]["id"]
    with app.app_context():
        model = ENTITIES["behaviour"]
        from_the_mis = db.session.scalar(
            select(model.id).where(model.school_id == school.id, model.writeback_item_id.is_(None))
        )
    other = WritebackTokens(app, client, make_app, school, school_admin)
    token = other.token(*WRITE_SCOPES)
    for record in (mine, from_the_mis, 99_999_999):
        assert _patch(other, "behaviours", record, {"comment": "x"}, token).status_code == 404
        assert _delete(other, "behaviours", record, token).status_code == 404
    assert _patch(tokens, "behaviours", from_the_mis, {"comment": "x"}).status_code == 404
    assert _delete(tokens, "behaviours", from_the_mis).status_code == 404


def test_a_withdrawal_stays_pending_until_the_mis_deletes_the_record(app, tokens, ids) -> None:
    record = post(tokens, "behaviours", [valid("behaviours", ids)]).get_json()["data"][0]["id"]
    response = _delete(tokens, "behaviours", record)
    assert response.status_code == 202, response.get_json()
    status = response.get_json()["writeback"]
    token = tokens.token("Conduct")
    assert tokens.get(f"behaviours/{record}", token).get_json()["writeback"]["op"] == "delete"
    assert _delete(tokens, "behaviours", record).status_code == 404  # already withdrawn
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:withdrawn"))
    settle(app, items_of(app, status["id"])[0], "applied")
    assert tokens.get(f"behaviours/{record}", token).status_code == 404
    with app.app_context():
        assert db.session.scalar(
            select(Tombstone).where(Tombstone.entity == "behaviour", Tombstone.record_id == record)
        )


def test_a_rejected_create_takes_its_queued_corrections_with_it(app, tokens, ids) -> None:
    response = post(tokens, "behaviours", [valid("behaviours", ids)])
    record = response.get_json()["data"][0]["id"]
    correction = _patch(tokens, "behaviours", record, {"comment": "later"}).get_json()
    settle(app, items_of(app, response.get_json()["writeback"]["id"])[0], "rejected", "No.")
    followed = tokens.get(
        f"writebacks/{correction['writeback']['id']}", tokens.token("Conduct")
    ).get_json()
    assert followed["state"] == "rejected"
    assert "refused by the MIS" in followed["items"][0]["reason"]


# --- Fields the school left out ------------------------------------------------------------------


def test_a_field_the_school_left_out_cannot_be_written(
    app, client, make_app, school, school_admin, ids
) -> None:
    narrowed = WritebackTokens(
        app,
        client,
        make_app,
        school,
        school_admin,
        restrictions=Restrictions(excluded_fields=("behaviour.comment",)),
    )
    token = narrowed.token("WritebackConduct")
    before = count(app, "behaviour")
    response = post(
        narrowed,
        "behaviours",
        [valid("behaviours", ids), valid("behaviours", ids, 1) | {"comment": "Shouted"}],
        token=token,
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "comment")]
    assert "left comment out" in errors[0]["message"]
    assert count(app, "behaviour") == before
    written = post(narrowed, "behaviours", [valid("behaviours", ids)], token=token)
    assert written.status_code == 201
    assert "comment" not in written.get_json()["data"][0]
    record = written.get_json()["data"][0]["id"]
    corrected = _patch(narrowed, "behaviours", record, {"comment": "x"}, token)
    assert corrected.status_code == 422
    assert corrected.get_json()["errors"][0]["field"] == "comment"


# --- The ingest's side --------------------------------------------------------------------------


def test_pending_rows_are_the_written_rows_the_mis_has_not_confirmed(
    app, tokens, ids, school
) -> None:
    data = post(tokens, "behaviours", [valid("behaviours", ids), valid("behaviours", ids, 1)])
    first, second = (d["id"] for d in data.get_json()["data"])
    settle(app, items_of(app, data.get_json()["writeback"]["id"])[0], "applied")
    with app.app_context():
        model = ENTITIES["behaviour"]
        pending = set(db.session.scalars(writeback_queue.pending_rows(model, school.id)))
        assert pending == {second}
        assert not set(
            db.session.scalars(writeback_queue.pending_rows(ENTITIES["student"], school.id))
        )
    assert first != second
