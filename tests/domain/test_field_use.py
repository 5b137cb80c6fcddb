"""The per-day rollup of reads: UTC days, counts that add up, the 30-day window, and upserts
that hold when many requests count at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from authserver.domain import field_use
from authserver.extensions import db
from authserver.models import FieldUseDay

UTC = dt.UTC
OTHERS = ("student.surname", "student.gender", "student.upi")


@pytest.fixture
def pair(make_school, make_app) -> tuple[int, int]:
    """A school and an application, the key of every count."""
    school = make_school()
    application, _ = make_app()
    return school.id, application.id


def counts(app, school_id: int) -> dict[tuple[dt.date, str], tuple[int, int]]:
    with app.app_context():
        return {
            (row.day, row.field): (row.requests, row.rows)
            for row in db.session.scalars(
                select(FieldUseDay).where(FieldUseDay.school_id == school_id)
            )
        }


def record(app, pair, at: dt.datetime, fields=("student.forename",), rows: int = 10) -> None:
    school_id, application_id = pair
    with app.app_context():
        field_use.record_read(
            school_id=school_id, application_id=application_id, fields=fields, rows=rows, at=at
        )
        db.session.commit()


def test_fields_sent_prefers_the_qualified_names_the_api_gives() -> None:
    assert field_use.fields_sent("student", ["surname", "forename"]) == [
        "student.forename",
        "student.surname",
    ]
    given = ["contact.email", "student.forename", "contact.email"]
    assert field_use.fields_sent("student", ["surname"], given) == [
        "contact.email",
        "student.forename",
    ]
    assert field_use.fields_sent("student", ["surname"], []) == []


def test_reads_add_up_per_field_and_per_read(app, pair) -> None:
    moment = dt.datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    record(app, pair, moment, ("student.forename", "student.surname"), rows=100)
    record(app, pair, moment + dt.timedelta(minutes=1), ("student.forename",), rows=40)
    day = moment.date()
    assert counts(app, pair[0]) == {
        (day, "*"): (2, 140),
        (day, "student.forename"): (2, 140),
        (day, "student.surname"): (1, 100),
    }


def test_a_read_that_sent_no_records_counts_the_read_but_no_field(app, pair) -> None:
    moment = dt.datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    record(app, pair, moment, ("student.forename", "student.surname"), rows=0)
    assert counts(app, pair[0]) == {(moment.date(), "*"): (1, 0)}


def test_each_field_counts_the_records_that_carried_it(app, pair) -> None:
    moment = dt.datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    # Three pupils with their four contacts, none of which had an email to send.
    sent = {"student.surname": 3, "contact.surname": 4, "contact.email": 0}
    record(app, pair, moment, sent, rows=3)
    day = moment.date()
    assert counts(app, pair[0]) == {
        (day, "*"): (1, 3),
        (day, "student.surname"): (1, 3),
        (day, "contact.surname"): (1, 4),
    }


def test_a_field_counted_in_no_record_is_not_read(app, pair) -> None:
    """Counts kept before empty reads stopped counting (requests, but no records) are not
    reads either."""
    today = dt.date(2026, 12, 2)
    with app.app_context():
        from authserver.models import Grant

        db.session.add(
            FieldUseDay(
                school_id=pair[0],
                application_id=pair[1],
                day=today,
                field="student.surname",
                requests=40,
                rows=0,
                last_read_at=dt.datetime.combine(today, dt.time(9, tzinfo=UTC)),
            )
        )
        grant = Grant(
            school_id=pair[0], application_id=pair[1], scopes=["StudentLite"], restrictions={}
        )
        db.session.add(grant)
        db.session.flush()
        never = [f.field for f in field_use.use_of(grant, today=today).never_read]
        db.session.rollback()
    assert "student.surname" in never


def test_days_are_utc_days_whatever_the_offset_of_the_moment(app, pair) -> None:
    last_moment = dt.datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)
    record(app, pair, last_moment)
    record(app, pair, last_moment + dt.timedelta(microseconds=1))
    # 00:30 in Paris on the 2nd is 23:30 UTC on the 1st.
    record(app, pair, dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    whole = {day: n for (day, name), (n, _) in counts(app, pair[0]).items() if name == "*"}
    assert whole == {dt.date(2026, 12, 1): 2, dt.date(2026, 12, 2): 1}


def test_the_last_read_is_the_latest_moment_even_when_written_out_of_order(app, pair) -> None:
    later = dt.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    record(app, pair, later)
    record(app, pair, later - dt.timedelta(hours=3))
    [summary] = read_summaries(app, pair[0])
    assert summary.last_read_at == later
    assert summary.requests == 2


def read_summaries(app, school_id: int, **filters) -> list[field_use.ReadSummary]:
    with app.app_context():
        return field_use.read_summaries(school_id, **filters)


def test_summaries_name_what_was_read_per_day_and_application_newest_first(
    app, pair, make_app
) -> None:
    other, _ = make_app(name="Other App")
    first = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    record(app, pair, first, ("student.forename", "contact.email"), rows=5)
    record(app, pair, first + dt.timedelta(days=2), ("session_mark.code",), rows=7)
    record(app, (pair[0], other.id), first + dt.timedelta(days=2, hours=1), (), rows=3)
    summaries = read_summaries(app, pair[0])
    assert [(s.day.day, s.application_id, s.entities, s.requests, s.rows) for s in summaries] == [
        (2, other.id, [], 1, 3),
        (2, pair[1], ["session_mark"], 1, 7),
        (30, pair[1], ["student", "contact"], 1, 5),
    ]
    assert summaries[2].entity_labels == ["Pupils", "Parents and contacts"]
    only = read_summaries(app, pair[0], application_id=pair[1], until=dt.date(2026, 12, 1))
    assert [s.day for s in only] == [dt.date(2026, 11, 30)]
    assert [s.day for s in read_summaries(app, pair[0], since=dt.date(2026, 12, 1), limit=1)] == [
        dt.date(2026, 12, 2)
    ]


def test_the_window_is_today_and_the_29_days_before(app, pair) -> None:
    today = dt.date(2026, 12, 2)
    first, last = field_use.window(today)
    assert (first, last) == (dt.date(2026, 11, 3), today)
    noon = dt.time(12, tzinfo=UTC)
    record(app, pair, dt.datetime.combine(first - dt.timedelta(days=1), noon), rows=1000)
    record(app, pair, dt.datetime.combine(first, noon), rows=20)
    record(app, pair, dt.datetime.combine(today, noon), rows=3)
    with app.app_context():
        from authserver.models import Grant

        grant = Grant(
            school_id=pair[0], application_id=pair[1], scopes=["StudentLite"], restrictions={}
        )
        db.session.add(grant)
        db.session.flush()
        [forename] = [
            f
            for s in field_use.use_of(grant, today=today).scopes
            for f in s.fields
            if f.field == "student.forename"
        ]
        db.session.rollback()
    assert (forename.requests, forename.rows) == (2, 23)


@pytest.mark.postgresql_only
@pytest.mark.live  # threads on their own connections, committing for real
def test_concurrent_reads_on_postgresql_lose_no_count(app, pair) -> None:
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
    threads, reads_each = 8, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    moment = dt.datetime.now(UTC)

    def reader(number: int) -> None:
        try:
            start.wait()
            for _ in range(reads_each):
                # Overlapping field sets, as a sync's parallel pages and includes send them.
                fields = ["student.forename", OTHERS[number % 3], "contact.email"]
                record(app, pair, moment, fields, rows=10)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    workers = [threading.Thread(target=reader, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    day = moment.date()
    found = counts(app, pair[0])
    total = threads * reads_each
    assert found[(day, "*")] == (total, total * 10)
    assert found[(day, "student.forename")] == (total, total * 10)
    assert found[(day, "contact.email")] == (total, total * 10)
    assert sum(found[(day, name)][0] for name in OTHERS) == total
