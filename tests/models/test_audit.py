"""The audit log is append-only: the ORM refuses to change or delete an event, and on
PostgreSQL a trigger (migration 0006, and `create_all` alike) refuses UPDATE and DELETE."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import delete, func, select, update

from authserver import create_app
from authserver.domain import audit
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.models.audit import AuditLogIsAppendOnly
from tests.conftest import SUITE_SCHEMA, postgres_url, reset_postgres_schema

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
def recorded(app: Flask, school) -> int:
    """One audit event, committed as the domain records it; its id."""
    with app.app_context():
        event_id = audit.record(
            AuditAction.GRANT_APPROVED, actor="head@example.org", school=school.id, version=1
        )
        db.session.commit()
        return event_id


def snapshot(app: Flask) -> list[tuple]:
    """Every audit row as it is in the database, in a fresh session."""
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.id, AuditEvent.action, AuditEvent.actor, AuditEvent.detail).order_by(
                AuditEvent.id
            )
        )
        return [tuple(row) for row in rows]


def test_recording_still_inserts(app: Flask, recorded: int) -> None:
    with app.app_context():
        audit.record(AuditAction.GRANT_REVOKED, actor="head@example.org", reason="test")
        db.session.commit()
    assert [row[1] for row in snapshot(app)] == ["grant:approved", "grant:revoked"]


def test_the_orm_refuses_to_change_an_event(app: Flask, recorded: int) -> None:
    before = snapshot(app)
    with app.app_context():
        event = db.session.get(AuditEvent, recorded)
        event.actor = "someone-else@example.org"
        event.detail = {"version": 99}
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()
    assert snapshot(app) == before


def test_the_orm_refuses_to_delete_an_event(app: Flask, recorded: int) -> None:
    before = snapshot(app)
    with app.app_context():
        db.session.delete(db.session.get(AuditEvent, recorded))
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(update(AuditEvent).values(actor="rewritten"), id="orm-update"),
        pytest.param(delete(AuditEvent), id="orm-delete"),
        pytest.param(AuditEvent.__table__.update().values(actor="rewritten"), id="core-update"),
        pytest.param(AuditEvent.__table__.delete(), id="core-delete"),
    ],
)
def test_the_orm_refuses_bulk_statements(app: Flask, recorded: int, statement) -> None:
    before = snapshot(app)
    with app.app_context():
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.execute(statement)
        db.session.rollback()
    assert snapshot(app) == before


def test_the_orm_refuses_a_query_delete(app: Flask, recorded: int) -> None:
    with app.app_context():
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.query(AuditEvent).filter(AuditEvent.id == recorded).delete()
        db.session.rollback()
    assert len(snapshot(app)) == 1


# --- PostgreSQL: the database itself refuses ---------------------------------------------------


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET actor = 'rewritten'",
        "UPDATE audit_events SET detail = '{}' WHERE id = -1",  # refused even matching nothing
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = -1",
    ],
)
def test_postgresql_refuses_raw_update_and_delete(app: Flask, recorded: int, sql: str) -> None:
    before = snapshot(app)
    with app.app_context():
        # Raw SQL on the session's own connection: nothing between it and the database.
        connection = db.session.connection()
        assert connection.dialect.name == "postgresql"
        with pytest.raises(sa.exc.DBAPIError) as refused:
            connection.execute(sa.text(sql))
        assert refused.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
        assert "audit events are append-only" in str(refused.value.orig)
        db.session.rollback()
    assert snapshot(app) == before


@pytest.mark.postgresql_only
def test_postgresql_still_takes_raw_inserts(app: Flask, recorded: int) -> None:
    with app.app_context():
        db.session.connection().execute(
            sa.text(
                "INSERT INTO audit_events (occurred_at, action, actor, detail)"
                " VALUES (now(), 'user:signed_in', 'head@example.org', '{}')"
            )
        )
        db.session.commit()
    assert [row[1] for row in snapshot(app)] == ["grant:approved", "user:signed_in"]


def guard_in(connection: sa.Connection) -> tuple[int, int]:
    """How many append-only triggers and refusing functions this schema has."""
    triggers = connection.scalar(
        sa.text(
            "SELECT count(*) FROM pg_trigger"
            " WHERE tgname = 'audit_events_append_only'"
            " AND tgrelid = to_regclass('audit_events')"
        )
    )
    functions = connection.scalar(
        sa.text(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = 'audit_events_refuse_change' AND n.nspname = current_schema()"
        )
    )
    return triggers, functions


@pytest.mark.postgresql_only
def test_the_migration_installs_the_trigger_and_downgrade_removes_it(
    database_url: str, tmp_path: Path
) -> None:
    schema = f"{SUITE_SCHEMA}_audit_migration"
    reset_postgres_schema(schema)
    migrated = create_app(
        {
            "DATABASE_URL": postgres_url(schema),
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "audit-migration",
        }
    )
    cli = migrated.test_cli_runner()
    update_sql = sa.text("UPDATE audit_events SET actor = 'rewritten'")
    try:
        # Up to 0006 itself, whatever later migrations add on top of it.
        result = cli.invoke(args=["db", "upgrade", "0006"])
        assert result.exit_code == 0, result.output
        with migrated.app_context():
            with db.engine.connect() as connection:
                assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == (
                    "0006"
                )
                assert guard_in(connection) == (1, 1)
                with pytest.raises(sa.exc.DBAPIError) as refused:
                    connection.execute(update_sql)
                assert refused.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
                connection.rollback()
            db.engine.dispose()

        result = cli.invoke(args=["db", "downgrade", "0005"])
        assert result.exit_code == 0, result.output
        with migrated.app_context():
            with db.engine.begin() as connection:
                assert guard_in(connection) == (0, 0)
                connection.execute(update_sql)  # an ordinary table again
                assert connection.scalar(select(func.count()).select_from(AuditEvent)) == 0
            db.engine.dispose()
    finally:
        reset_postgres_schema(schema)
