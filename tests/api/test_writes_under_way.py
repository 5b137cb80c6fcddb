"""A write to the school's data that is still under way while a vendor syncs reaches the vendor's
copy at its next sync: a change is stamped when it is written and seen only once it commits, so
the next sync starts from the `sync_from` the server gave, before any write still under way.
Each arrival from the MIS says that it is writing (its run's `writing_since`) from before it
stamps anything until its data commits, and never leaves the mark behind."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from authserver.domain import ingest, views
from authserver.extensions import db
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.base import Tombstone
from authserver.models.mis.students import Student
from authserver.models.sync import SyncKind, SyncRun, SyncState
from tests.api.school_view import SCOPES, SchoolWorld, Vendor
from tests.connector.conftest import Agent, pupil, upn

pytestmark = pytest.mark.live

#: How long any step may wait for the other thread before the test fails (never reached).
PATIENCE = 30

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def app_settings() -> dict[str, object]:
    """No skew: only the import's own marker can keep its changes in the next sync."""
    return {"SYNC_FROM_SKEW_SECONDS": 0}


@pytest.fixture
def world(app, client, make_school, make_user, make_app) -> SchoolWorld:
    application, secret = make_app(
        name="Mirror", required={}, optional={s: "For the tests." for s in SCOPES}
    )
    world = SchoolWorld(app, client, make_school, make_user, application, secret)
    world.decide()
    return world


@pytest.fixture
def agent(app, client, world) -> Agent:
    """The school's MIS agent, with two pupils sent and a register mark for each."""
    agent = Agent(app, client, world.school_id)
    sent = agent.changes(
        {
            "student": {"upsert": [pupil(1), pupil(2)]},
            "session_mark": {"upsert": [mark("m-1", 1), mark("m-2", 2)]},
        }
    )
    assert sent.status_code == 200, sent.get_json()
    return agent


def mark(key: str, serial: int) -> dict[str, Any]:
    return {
        "id": key,
        "student_id": upn(serial),
        "date": "2026-11-30",
        "session": "AM",
        "code": "/",
    }


#: Two ways the MIS renames pupil 1 and deletes mark m-2, each taking the path it takes.
ARRIVALS: dict[str, Callable[[Agent], Any]] = {
    "a batch of changes": lambda agent: agent.changes(
        {
            "student": {"upsert": [pupil(1, surname="Late"), pupil(2)]},
            "session_mark": {"delete": ["m-2"]},
        },
        "late",
    ),
    "a snapshot": lambda agent: agent.snapshot(
        "late",
        [{"student": [pupil(1, surname="Late"), pupil(2)], "session_mark": [mark("m-1", 1)]}],
    ),
}


class HeldImport:
    """An arrival from the school's MIS over /connector/v1, sent from a thread of its own, whose
    transaction is held open once everything is written, until `commit()` lets it go."""

    def __init__(self, agent: Agent, send: Callable[[Agent], Any]) -> None:
        self.agent = copy.copy(agent)
        self.agent.client = agent.app.test_client()  # its own client, in its own thread
        self.send = send
        self.written, self.release, self.done = (threading.Event() for _ in range(3))
        self.answer: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="held import")

    def start(self) -> None:
        self.thread.start()
        assert self.written.wait(PATIENCE), self.error or "the import never wrote"
        assert self.error is None, self.error

    def commit(self) -> None:
        self.release.set()
        assert self.done.wait(PATIENCE), "the import never committed"
        self.thread.join(PATIENCE)
        assert self.error is None, self.error
        assert self.answer.status_code == 200, self.answer.get_json()

    def _hold(self, session: Session) -> None:
        """Before the commit that makes the data visible (its run succeeds with it)."""
        if threading.current_thread() is not self.thread:
            return
        runs = [o for o in session.identity_map.values() if isinstance(o, SyncRun)]
        if any(run.state is SyncState.SUCCEEDED for run in runs):
            self.written.set()
            assert self.release.wait(PATIENCE), "nobody let the import commit"

    def _run(self) -> None:
        event.listen(Session, "before_commit", self._hold)
        try:
            self.answer = self.send(self.agent)
        except BaseException as error:  # reported in the test's thread
            self.error = error
            self.written.set()
        finally:
            event.remove(Session, "before_commit", self._hold)
            self.done.set()


@pytest.fixture
def first_write_lets_it_commit(app) -> Iterator[Callable[[HeldImport], None]]:
    """`arm(held)`: the next write the test's thread makes (a read's audit event) first lets
    the held import commit, and waits for it (SQLite has one writer)."""
    with app.app_context():
        engine = db.engine
    armed: list[HeldImport] = []
    test_thread = threading.current_thread()

    def before_write(_conn, _cursor, statement: str, *_args: Any) -> None:
        writes = statement.lstrip().upper().startswith(WRITES)
        if armed and writes and threading.current_thread() is test_thread:
            armed.pop().commit()

    event.listen(engine, "before_cursor_execute", before_write)
    yield armed.append
    event.remove(engine, "before_cursor_execute", before_write)


def ids(app) -> tuple[int, int]:
    """Pupil 1's id and mark m-2's."""
    with app.app_context():
        pupil_id = db.session.scalar(select(Student.id).where(Student.mis_id == upn(1)))
        mark_id = db.session.scalar(select(SessionMark.id).where(SessionMark.mis_id == "m-2"))
    return pupil_id, mark_id


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_a_write_under_way_during_a_sync_reaches_the_copy_at_the_next_sync(
    app, world, agent, arrival, database_url, monkeypatch, first_write_lets_it_commit
) -> None:
    """The MIS renames a pupil and deletes a mark, stamped before the vendor's sync begins and
    committed while it runs, after the deletions feed's first page was read.

    PostgreSQL: the import commits once the vendor's whole sync is done (readers never wait
    for a writer). SQLite has one writer: the vendor's first write (the first page's audit
    event) waits for the import, so the import commits as that write begins, after the page
    was read; and the view's reconciliation, which writes before it reads when the school's
    people changed within `views.SETTLING`, is made to read first as it does an hour after
    the school's last change (SETTLING at zero)."""
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        monkeypatch.setattr(views, "SETTLING", dt.timedelta(0))
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    renamed, deleted = ids(app)
    vendor.token()  # in hand before the import takes SQLite's one write lock

    held = HeldImport(agent, ARRIVALS[arrival])
    held.start()
    began = dt.datetime.now(dt.UTC)
    if sqlite:
        first_write_lets_it_commit(held)
    vendor.sync(itertools.repeat(100))  # while the import is still writing
    if not sqlite:
        held.commit()
    assert held.done.is_set()

    # The sync read the feed before the import committed: the mark is still in the copy, and
    # its tombstone is stamped before the sync began (a `since` of that moment would lose it).
    assert deleted in vendor.copy["session-marks"]
    with app.app_context():
        stamped = db.session.scalar(
            select(Tombstone.deleted_at).where(
                Tombstone.entity == "session_mark", Tombstone.record_id == deleted
            )
        )
    assert stamped < began
    if not sqlite:
        assert vendor.copy["students"][renamed]["surname"] == "Test"

    vendor.sync(itertools.repeat(100))  # the next sync, from the first page's `sync_from`
    assert deleted not in vendor.copy["session-marks"]
    assert vendor.copy["students"][renamed]["surname"] == "Late"
    assert vendor.copy == world.allowed()


def marker(app, external_id: str) -> dt.datetime | None:
    with app.app_context():
        return db.session.scalar(
            select(SyncRun.writing_since).where(SyncRun.external_id == external_id)
        )


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_an_arrival_is_marked_before_it_stamps_and_unmarked_as_it_commits(
    app, world, agent, arrival
) -> None:
    held = HeldImport(agent, ARRIVALS[arrival])
    held.start()
    try:
        # Seen from another connection while the data is not: vendors start before it.
        writing_since = marker(app, "late")
        assert writing_since is not None
        with app.app_context():
            assert views.sync_from(world.school_id, skew=dt.timedelta(0)) == writing_since
    finally:
        held.commit()
    assert marker(app, "late") is None
    renamed, _ = ids(app)
    with app.app_context():
        stamps = [
            db.session.scalar(select(Student.updated_at).where(Student.id == renamed)),
            *db.session.scalars(
                select(Tombstone.deleted_at).where(Tombstone.school_id == world.school_id)
            ),
        ]
    assert all(writing_since <= stamp for stamp in stamps)


def test_a_refused_batch_leaves_no_mark(app, agent) -> None:
    refused = agent.changes({"session_mark": {"upsert": [mark("m-3", 9)]}}, "refused")
    assert refused.status_code == 422  # pupil 9 is not in the school's data
    with app.app_context():
        run = db.session.scalar(select(SyncRun).where(SyncRun.external_id == "refused"))
        assert (run.state, run.writing_since) == (SyncState.FAILED, None)


def test_a_batch_that_breaks_off_leaves_no_mark(app, agent, monkeypatch) -> None:
    def broken(_run: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ingest._Run, "carry_out", broken)
    broke = agent.changes({"student": {"upsert": [pupil(1, surname="Lost")]}}, "broken")
    assert broke.status_code == 500
    with app.app_context():
        run = db.session.scalar(select(SyncRun).where(SyncRun.external_id == "broken"))
        assert (run.state, run.writing_since) == (SyncState.FAILED, None)


def test_a_mark_left_by_a_run_that_died_is_ignored_and_cleared_by_the_next(
    app, world, agent
) -> None:
    now = dt.datetime.now(dt.UTC)
    dead = now - views.LONGEST_WRITE - dt.timedelta(minutes=1)
    alive = now - dt.timedelta(minutes=2)
    with app.app_context():
        for name, since in (("dead", dead), ("alive", alive)):
            db.session.add(
                SyncRun(
                    school_id=world.school_id,
                    kind=SyncKind.CHANGES,
                    state=SyncState.RUNNING,
                    external_id=name,
                    writing_since=since,
                )
            )
        db.session.commit()
        assert views.sync_from(world.school_id, skew=dt.timedelta(0)) == alive
    assert agent.changes({"student": {"upsert": [pupil(3)]}}, "next").status_code == 200
    # The dead run's mark is gone; one that may still be writing stays until it commits.
    assert (marker(app, "dead"), marker(app, "alive"), marker(app, "next")) == (None, alive, None)
