"""The demo seed's statistics refresh: this application's tables, and nothing else in the
database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from authserver.demo.seed import refresh_statistics
from authserver.extensions import db
from tests.conftest import postgres_url

OTHER_SCHEMA = "someone_elses"


@pytest.mark.postgresql_only
def test_refreshing_statistics_locks_only_this_applications_tables(app) -> None:
    # Another tenant of the same database (CI's suite runs share one): a bare ANALYZE would
    # lock its tables too, and with enough of them run out of lock slots.
    engine = sa.create_engine(postgres_url())
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{OTHER_SCHEMA}"'))
        connection.execute(sa.text(f'CREATE TABLE IF NOT EXISTS "{OTHER_SCHEMA}".t (id int)'))
    engine.dispose()

    with app.app_context():
        refresh_statistics()
        # ANALYZE holds its lock on each table it analysed until the transaction ends.
        locked = db.session.execute(
            sa.text(
                "SELECT n.nspname, c.relname FROM pg_locks l"
                " JOIN pg_class c ON c.oid = l.relation"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE l.pid = pg_backend_pid() AND l.mode = 'ShareUpdateExclusiveLock'"
            )
        ).all()
        schemas = {schema for schema, _ in locked}
        assert schemas == {db.session.scalar(sa.text("SELECT current_schema()"))}
        assert {"mis_students", "grants"} <= {name for _, name in locked}
