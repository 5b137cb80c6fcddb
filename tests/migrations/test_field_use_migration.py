"""Migration 0008 counts the reads already in the audit log, so that the dashboard's use and
history do not start empty on an existing database."""

from __future__ import annotations

import datetime as dt

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db


class Row:
    """A row's id, as the ORM object it stands for would give it."""

    def __init__(self, row_id: int) -> None:
        self.id = row_id


def test_the_reads_already_logged_are_counted(migrating_app: Flask) -> None:
    from authserver.models import AuditEvent, FieldUseDay

    app = migrating_app
    with app.app_context():
        flask_migrate.upgrade(revision="0006")
        # Rows written as the tables stood at 0006: today's models have columns added since.
        created = "2026-11-01 00:00:00.000000"
        school = Row(
            db.session.execute(
                sa.text(
                    "INSERT INTO schools (urn, name, phase, created_at)"
                    " VALUES ('100001', 'Logged Academy', 'primary', :at) RETURNING id"
                ),
                {"at": created},
            ).scalar_one()
        )
        vendor_id = db.session.execute(
            sa.text("INSERT INTO vendors (name, created_at) VALUES ('Vendor', :at) RETURNING id"),
            {"at": created},
        ).scalar_one()
        application = Row(
            db.session.execute(
                sa.text(
                    "INSERT INTO applications (vendor_id, name, description, client_id,"
                    " token_endpoint_auth_method, redirect_uris, privacy_policy_url,"
                    " require_pushed_authorization_requests, access_token_format,"
                    " created_at, updated_at)"
                    " VALUES (:vendor, 'Old App', '', 'old-app', 'client_secret_basic',"
                    " '[]', 'https://app.example.com/privacy', false, 'opaque', :at, :at)"
                    " RETURNING id"
                ),
                {"vendor": vendor_id, "at": created},
            ).scalar_one()
        )
        late = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)

        def read(at: dt.datetime, **detail: object) -> AuditEvent:
            return AuditEvent(
                occurred_at=at,
                action="data:read",
                actor="application old",
                school_id=school.id,
                application_id=application.id,
                detail=detail,
            )

        db.session.add_all(
            [
                read(late, entity="student", fields=["forename", "surname"], rows=30),
                read(late - dt.timedelta(hours=1), entity="student", fields=["forename"], rows=5),
                read(
                    late + dt.timedelta(minutes=2),
                    entity="student",
                    fields=["forename"],
                    read_fields=["student.forename", "contact.email"],
                    rows=7,
                ),
                AuditEvent(
                    occurred_at=late,
                    action="grant:approved",
                    actor="someone",
                    school_id=school.id,
                    application_id=application.id,
                    detail={"fields": ["not.a.read"]},
                ),
            ]
        )
        db.session.commit()

        flask_migrate.upgrade()
        rows = db.session.scalars(select(FieldUseDay)).all()
        assert {(r.school_id, r.application_id) for r in rows} == {(school.id, application.id)}
        counts = {
            (row.day.isoformat(), row.field): (row.requests, row.rows, row.last_read_at)
            for row in rows
        }
        db.session.close()  # its read lock would hold up the DROP TABLE on PostgreSQL
        flask_migrate.downgrade(revision="0006")  # and back, with the data in place
        assert "field_use_days" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
    assert counts == {
        ("2026-11-30", "*"): (2, 35, late),
        ("2026-11-30", "student.forename"): (2, 35, late),
        ("2026-11-30", "student.surname"): (1, 30, late),
        ("2026-12-01", "*"): (1, 7, late + dt.timedelta(minutes=2)),
        ("2026-12-01", "student.forename"): (1, 7, late + dt.timedelta(minutes=2)),
        ("2026-12-01", "contact.email"): (1, 7, late + dt.timedelta(minutes=2)),
    }
