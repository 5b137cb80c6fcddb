"""An ingest works everything out before it writes: while it checks, other writers (vendors'
reads record their audit events) are not held up; an ingest that wrote in the meantime is not
lost under the plan made before it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authserver.domain import ingest
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.models.mis.base import Tombstone
from authserver.models.mis.students import Student
from authserver.models.sync import SchoolSync
from tests.connector.conftest import upn

pytestmark = pytest.mark.live

SAVING = "Saving the changes"


def pupils(*serials: int) -> Changes:
    changes = Changes()
    changes.upserts["student"] = [
        (Origin(i), {"upn": upn(serial), "forename": f"Pupil {serial}", "surname": "Ng"})
        for i, serial in enumerate(serials)
    ]
    return changes


def snapshot_of(session: Session, school_id: int, changes: Changes, **kwargs: Any) -> None:
    ingest.apply(
        session, school_id, changes, snapshot=frozenset({"student"}), guard_percent=100, **kwargs
    )


def keys(school_id: int) -> set[str]:
    return set(db.session.scalars(select(Student.mis_id).where(Student.school_id == school_id)))


def test_while_an_ingest_checks_another_connection_writes_without_waiting(
    app: Flask, school, database_url: str
) -> None:
    """SQLite has one writer: were the ingest's write lock taken before its check ends, the
    other connection's write would fail. PostgreSQL: no row of the school's data is locked."""
    with app.app_context():
        snapshot_of(db.session, school.id, pupils(*range(1, 40)))
        db.session.commit()
        leaving = db.session.scalar(select(Student.id).where(Student.mis_id == upn(35)))
        checking: list[str] = []

        def progress(_done: int, _total: int, message: str) -> None:
            if message == SAVING:
                return
            with db.engine.connect() as other:
                if database_url.startswith("sqlite"):
                    other.exec_driver_sql("PRAGMA busy_timeout = 0")
                else:
                    other.exec_driver_sql("SET lock_timeout = '200ms'")
                table = Student.__table__
                other.execute(
                    update(table).where(table.c.id == leaving).values(forename=table.c.forename)
                )
                other.commit()
            checking.append(message)

        snapshot_of(db.session, school.id, pupils(*range(1, 30), 41), progress=progress)
        db.session.commit()
        assert checking, "the ingest reported no progress while checking"
        assert keys(school.id) == {upn(n) for n in (*range(1, 30), 41)}


def test_an_ingest_that_wrote_while_another_checked_is_worked_in(
    app: Flask, school, database_url: str
) -> None:
    """Snapshot A is checked; meanwhile a batch adds pupil 50 and commits. A was worked out
    before pupil 50 existed, yet A's snapshot must remove them: on SQLite A is worked out
    again under the lock; on PostgreSQL the batch waits until A has committed."""
    with app.app_context():
        snapshot_of(db.session, school.id, pupils(1, 2, 3))
        db.session.commit()
        other_done = threading.Event()
        errors: list[BaseException] = []

        def other_batch() -> None:
            try:
                with app.app_context(), Session(db.engine) as other:
                    ingest.apply(other, school.id, pupils(50))
                    other.commit()
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                other_done.set()

        started: list[threading.Thread] = []

        def progress(_done: int, _total: int, message: str) -> None:
            if started or message == SAVING:
                return
            thread = threading.Thread(target=other_batch)
            started.append(thread)
            thread.start()
            if database_url.startswith("sqlite"):
                assert other_done.wait(30), "the other batch waited on the checking ingest"
            else:
                # It waits for this ingest's lock on the school's sync row.
                assert not other_done.wait(0.5), "two ingests of one school ran at once"

        snapshot_of(db.session, school.id, pupils(1, 2, 4), progress=progress)
        db.session.commit()
        started[0].join(30)
        assert not errors, errors
        gone = set(
            db.session.scalars(
                select(Tombstone.record_id).where(
                    Tombstone.school_id == school.id, Tombstone.entity == "student"
                )
            )
        )
        if database_url.startswith("sqlite"):
            # The batch came first: the snapshot, worked out again, removed its pupil.
            assert keys(school.id) == {upn(1), upn(2), upn(4)}
            assert len(gone) == 2  # pupils 3 and 50
        else:
            # The snapshot came first; the batch then added its pupil.
            assert keys(school.id) == {upn(1), upn(2), upn(4), upn(50)}
            assert len(gone) == 1  # pupil 3
        version = db.session.get(SchoolSync, school.id)
        assert version is not None
        assert version.data_version == 3
