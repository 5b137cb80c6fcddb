"""Where a vendor's next sync starts: now less the skew, or before the earliest write to the
school's data still under way, unless its marker is so old that its writer must have died."""

from __future__ import annotations

import datetime as dt

import pytest

from authserver.domain import views
from authserver.extensions import db
from authserver.models.sync import SyncKind, SyncRun, SyncState

NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
SKEW = dt.timedelta(seconds=30)


@pytest.fixture
def writing(app, school):
    """`writing(started, school_id=...)`: a run of the school writing since `started`."""

    def write(started: dt.datetime | None, *, school_id: int = school.id) -> None:
        with app.app_context():
            db.session.add(
                SyncRun(
                    school_id=school_id,
                    kind=SyncKind.CHANGES,
                    state=SyncState.RUNNING,
                    writing_since=started,
                )
            )
            db.session.commit()

    return write


@pytest.fixture
def sync_from(app, school):
    """The school's `sync_from` at NOW."""

    def read() -> dt.datetime:
        with app.app_context():
            return views.sync_from(school.id, skew=SKEW, now=NOW)

    return read


def test_with_no_write_under_way_it_is_now_less_the_skew(writing, sync_from) -> None:
    writing(None)  # a run that has finished writing (or never began)
    assert sync_from() == NOW - SKEW


def test_a_write_under_way_holds_it_before_the_writes_start(writing, sync_from) -> None:
    writing(NOW - dt.timedelta(minutes=4))
    writing(NOW - dt.timedelta(minutes=9))  # two at once: the earlier counts
    assert sync_from() == NOW - dt.timedelta(minutes=9) - SKEW


def test_a_write_that_started_after_now_does_not_move_it_on(writing, sync_from) -> None:
    writing(NOW + dt.timedelta(seconds=5))  # another server's clock a little ahead
    assert sync_from() == NOW - SKEW


def test_a_marker_left_by_a_dead_process_is_ignored(writing, sync_from) -> None:
    writing(NOW - views.LONGEST_WRITE - dt.timedelta(seconds=1))
    assert sync_from() == NOW - SKEW
    writing(NOW - views.LONGEST_WRITE + dt.timedelta(minutes=1))  # still (just) under way
    assert sync_from() == NOW - views.LONGEST_WRITE + dt.timedelta(minutes=1) - SKEW


def test_another_schools_write_does_not_hold_this_school_back(
    writing, sync_from, make_school
) -> None:
    other = make_school()
    writing(NOW - dt.timedelta(minutes=5), school_id=other.id)
    assert sync_from() == NOW - SKEW
