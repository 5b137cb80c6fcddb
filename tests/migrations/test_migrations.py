"""The migrations build exactly the tables the models describe, and unwind cleanly."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from authserver import create_app
from authserver.extensions import db
from tests.conftest import BACKENDS, SUITE_SCHEMA, postgres_url, reset_postgres_schema


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    reset_postgres_schema(f"{SUITE_SCHEMA}_migrations")
    return postgres_url(f"{SUITE_SCHEMA}_migrations")


def test_migrations_match_the_models_and_downgrade_to_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    app = create_app(
        {
            "DATABASE_URL": empty_database_url,
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "migrations",
        }
    )
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
