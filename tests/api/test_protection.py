"""record_use: every read is audited as it was, and counted against each field it sent (the
qualified `read_fields` when the API names them, else the entity's fields), in the read's own
transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, FieldUseDay
from tests.consent.connections import Connection


@pytest.fixture
def connection(app, client, make_app, school, school_admin) -> Connection:
    return Connection(
        app,
        client,
        make_app,
        school,
        school_admin,
        required={"StudentLite": "Names."},
        optional={"Contact": "Parents."},
    )


def record(app, connection: Connection, **detail) -> dict[str, tuple[int, int]]:
    """Record a read with the API's own token, commit, and return the day's counts per key."""
    from authserver.api.protection import record_use
    from authserver.domain import tokens
    from authserver.domain.audit import AuditAction

    with app.app_context():
        token = tokens.find_by_access_token(connection.token())
        record_use(token, AuditAction.DATA_READ, **detail)
        db.session.commit()
        today = dt.datetime.now(dt.UTC).date()
        return {
            row.field: (row.requests, row.rows)
            for row in db.session.scalars(select(FieldUseDay).where(FieldUseDay.day == today))
        }


def test_read_fields_name_what_was_sent_includes_and_all(app, connection) -> None:
    counts = record(
        app,
        connection,
        entity="student",
        fields=["forename", "surname"],
        read_fields=["student.forename", "contact.email"],
        scopes=["StudentLite", "Contact"],
        rows=4,
        include=["contacts"],
    )
    assert counts == {
        "*": (1, 4),
        "student.*": (1, 4),
        "student.forename": (1, 4),
        "contact.email": (1, 4),
    }
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:read"))
    assert event.detail["read_fields"] == ["student.forename", "contact.email"]
    assert event.detail["fields"] == ["forename", "surname"]


def test_without_read_fields_the_entitys_fields_are_counted(app, connection) -> None:
    counts = record(app, connection, entity="student", fields=["forename"], rows=2, include=[])
    assert counts == {"*": (1, 2), "student.*": (1, 2), "student.forename": (1, 2)}


def test_a_read_that_sent_nothing_counts_what_it_read_but_no_field(app, connection) -> None:
    counts = record(app, connection, entity="student", fields=["forename"], rows=0, include=[])
    assert counts == {"*": (1, 0), "student.*": (1, 0)}


def test_the_deletions_feed_counts_as_a_read_of_no_entity(app, connection) -> None:
    counts = record(app, connection, entity="deletions", fields=[], rows=3, include=[])
    assert counts == {"*": (1, 3)}


def test_a_write_is_audited_but_not_counted_as_a_read(app, connection) -> None:
    from authserver.api.protection import record_use
    from authserver.domain import tokens
    from authserver.domain.audit import AuditAction

    with app.app_context():
        token = tokens.find_by_access_token(connection.token())
        record_use(token, AuditAction.DATA_WRITTEN, entity="session_mark", fields=["code"])
        db.session.commit()
        assert db.session.scalars(select(FieldUseDay)).all() == []


def test_a_read_that_fails_to_commit_counts_nothing(app, connection) -> None:
    from authserver.api.protection import record_use
    from authserver.domain import tokens
    from authserver.domain.audit import AuditAction

    with app.app_context():
        token = tokens.find_by_access_token(connection.token())
        record_use(token, AuditAction.DATA_READ, entity="student", fields=["forename"], rows=1)
        db.session.rollback()
        assert db.session.scalars(select(FieldUseDay)).all() == []
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:read")) is None


def test_records_per_field_count_each_fields_own_records(app, connection) -> None:
    counts = record(
        app,
        connection,
        entity="student",
        fields=["surname"],
        read_fields=["student.surname", "contact.email"],
        rows=3,
        include=["contacts"],
        records_per_field={"student.surname": 3, "contact.email": 5},
    )
    assert counts == {
        "*": (1, 3),
        "student.*": (1, 3),
        "student.surname": (1, 3),
        "contact.email": (1, 5),
    }
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:read"))
    assert "records_per_field" not in event.detail
