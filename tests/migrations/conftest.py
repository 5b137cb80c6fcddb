"""An empty database of each backend for migration tests, and an app bound to it (the
migrations build its tables, never `create_all`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from authserver import create_app
from tests.conftest import BACKENDS, SUITE_SCHEMA, postgres_url, reset_postgres_schema


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    # A schema per test module, so modules run side by side (pytest-xdist) on their own.
    schema = f"{SUITE_SCHEMA}_{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_')}"
    reset_postgres_schema(schema)
    return postgres_url(schema)


@pytest.fixture
def migrating_app(empty_database_url: str, tmp_path: Path) -> Flask:
    """The app on the empty database, for a test to migrate up (and down) as it needs."""
    return create_app(
        {
            "DATABASE_URL": empty_database_url,
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "migrations",
        }
    )
