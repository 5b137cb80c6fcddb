"""The migrations build exactly the tables the models describe, and unwind cleanly."""

from __future__ import annotations

import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from authserver.extensions import db


def test_migrations_match_the_models_and_downgrade_to_nothing(migrating_app: Flask) -> None:
    app = migrating_app
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], "run `make migrate MESSAGE=...`: models and migrations differ"

        flask_migrate.downgrade(revision="base")
        remaining = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()
