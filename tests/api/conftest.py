"""The API tests' world: a school seeded as the demo seeds it, committed once per module and
shared read-only; each test's own changes roll back with its transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authserver import create_app
from authserver.extensions import db
from tests.conftest import app_config, empty_database, saved

# Out of the `make_school` factory's range, so a test's own schools never collide with it.
SEEDED_URN = "999999"


@pytest.fixture(scope="module")
def seeded_school(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A small secondary (30 pupils, seed 7) with its MIS data; removed after the module."""
    from authserver.demo.school_data import seed_school_data
    from authserver.models import School

    builder = create_app(app_config(database_url, tmp_path_factory.mktemp("world")))
    with builder.app_context():
        school = School(urn=SEEDED_URN, name="Test Academy", phase="secondary")
        db.session.add(school)
        db.session.flush()
        seed_school_data(db.session, school, students=30, seed=7)
        school = saved(school)
        db.session.remove()
    yield school
    with builder.app_context():
        empty_database(db.engine)
        db.engine.dispose()


@pytest.fixture
def school_data(school, seeded_school) -> None:
    """The school's MIS data: a module whose tests read it overrides `school` with
    `seeded_school`, which has it."""
    assert school.id == seeded_school.id, "override `school` with `seeded_school`"
