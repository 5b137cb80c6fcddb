"""The school's history as people read it: data reads summarised per day and application among
the other events, every detail still in the CSV, filters that hold on both, honest truncation,
and a readable 400 for any filter out of range."""

from __future__ import annotations

import csv
import datetime as dt
import html as markup
import io
import json
import re

import pytest

from authserver.extensions import db
from tests.api.conftest import seeded_school  # noqa: F401 (a fixture: the school's MIS data)
from tests.consent.connections import Connection
from tests.oauth_flow import sign_in

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def school(seeded_school):  # noqa: F811 (the seeded school in place of an empty one)
    return seeded_school


@pytest.fixture
def maths_app(app, client, make_app, school, school_admin) -> Connection:
    """A connection whose sync read pupils twice and contacts once today (4 records each)."""
    connection = Connection(
        app,
        client,
        make_app,
        school,
        school_admin,
        required={"StudentLite": "Names."},
        optional={"Contact": "Parents."},
    )
    connection.read("students", limit=4)
    connection.read("students", limit=4)
    connection.read("contacts", limit=4)
    assert sign_in(client, school_admin.email).status_code == 302
    return connection


def history(client, school, **query) -> str:
    response = client.get(f"/schools/{school.urn}/history", query_string=query)
    assert response.status_code == 200
    return markup.unescape(response.get_data(as_text=True))


def rows_of(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return [re.sub(r"\s+", " ", row) for row in re.findall(r"<tr.*?</tr>", body, re.S)]


def exported(client, school, **query) -> list[dict[str, str]]:
    response = client.get(f"/schools/{school.urn}/history", query_string={**query, "format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


SUMMARY = "Maths App read pupils and parents and contacts: 3 requests, 12 records"


def test_reads_are_one_line_per_day_and_application_among_the_other_events(
    client, school, maths_app
) -> None:
    rows = rows_of(history(client, school))
    summaries = [row for row in rows if "read-summary" in row]
    assert len(summaries) == 1
    assert f"{TODAY:%-d %b}: {SUMMARY}" in summaries[0]
    assert not any("data:read" in row for row in rows)
    # Newest first: the reads came after the approval and the secret.
    actions = [row for row in rows if "grant:approved" in row or "read-summary" in row]
    assert "read-summary" in actions[0]
    assert "grant:approved" in actions[1]


def test_reads_that_found_nothing_new_still_say_what_was_read(
    app, client, make_app, school, school_admin
) -> None:
    poller = Connection(
        app, client, make_app, school, school_admin, name="Poll App", required={"StudentLite": "."}
    )
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert poller.read("students", updated_after=tomorrow) == []
    assert poller.read("students", updated_after=tomorrow) == []
    sign_in(client, school_admin.email)
    [summary] = [row for row in rows_of(history(client, school)) if "read-summary" in row]
    assert "Poll App read pupils: 2 requests, 0 records" in summary


def test_the_csv_keeps_every_read_with_its_detail(client, school, maths_app) -> None:
    reads = [row for row in exported(client, school) if row["action"] == "data:read"]
    assert len(reads) == 3
    details = [json.loads(row["detail"]) for row in reads]
    assert sorted(d["entity"] for d in details) == ["contact", "student", "student"]
    assert all(d["rows"] == 4 for d in details)
    assert all("forename" in d["fields"] for d in details)


def test_reads_on_different_days_and_by_different_applications_are_summarised_apart(
    app, client, make_app, school, school_admin, maths_app
) -> None:
    from authserver.domain import field_use

    other = Connection(
        app, client, make_app, school, school_admin, name="Lunch App", required={"StudentLite": "."}
    )
    other.read("students", limit=2)
    with app.app_context():
        field_use.record_read(
            school_id=school.id,
            application_id=maths_app.application.id,
            fields=["session_mark.code", "session_mark.date"],
            rows=12400,
            at=dt.datetime.combine(TODAY - dt.timedelta(days=2), dt.time(9, tzinfo=dt.UTC)),
        )
        db.session.commit()
    summaries = [row for row in rows_of(history(client, school)) if "read-summary" in row]
    assert len(summaries) == 3
    assert "Lunch App read pupils: 1 request, 2 records" in summaries[0]
    assert SUMMARY in summaries[1]
    earlier = TODAY - dt.timedelta(days=2)
    assert (
        f"{earlier:%-d %b}: Maths App read morning and afternoon register marks: "
        "1 request, 12,400 records"
    ) in summaries[2]


def test_filters_hold_on_the_page_and_the_csv(client, school, maths_app) -> None:
    yesterday, tomorrow = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)
    kept = {"since": TODAY.isoformat(), "until": TODAY.isoformat()}
    mine = {"application": str(maths_app.application.id)}
    for query in (kept, mine, {**kept, **mine}):
        assert SUMMARY in history(client, school, **query), query
        assert (
            len([r for r in exported(client, school, **query) if r["action"] == "data:read"]) == 3
        )
    for query in (
        {"since": tomorrow.isoformat()},
        {"until": yesterday.isoformat()},
        {"application": str(maths_app.application.id + 999)},
    ):
        page = history(client, school, **query)
        assert "read-summary" not in page, query
        assert not [r for r in exported(client, school, **query) if r["action"] == "data:read"]
    assert "Nothing matches these filters." in history(client, school, since=tomorrow.isoformat())


def test_a_long_history_says_what_it_leaves_out(monkeypatch, client, school, maths_app) -> None:
    import consent.dashboard

    everything = rows_of(history(client, school))
    assert "Showing the latest" not in history(client, school)
    monkeypatch.setattr(consent.dashboard, "HISTORY_PAGE_SIZE", len(everything))
    assert "Showing the latest" not in history(client, school)
    monkeypatch.setattr(consent.dashboard, "HISTORY_PAGE_SIZE", len(everything) - 1)
    page = history(client, school)
    assert rows_of(page) == everything[:-1]
    assert f"Showing the latest {len(everything) - 1} entries" in page
    monkeypatch.setattr(consent.dashboard, "HISTORY_PAGE_SIZE", 1)
    page = history(client, school)
    assert rows_of(page) == everything[:1]
    assert "read-summary" in everything[0]
    assert f"Showing the latest entry, back to {TODAY:%d %B %Y}" in page


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"application": "99999999999999999999999"}, "“Application”"),
        ({"application": "9223372036854775808"}, "“Application”"),
        ({"application": str(2**31)}, "“Application”"),
        ({"application": "-1"}, "“Application”"),
        ({"application": "0"}, "“Application”"),
        ({"application": "maths"}, "“Application”"),
        ({"application": "1.5"}, "“Application”"),
        ({"since": "9999-12-31"}, "“From”"),
        ({"until": "9999-12-31"}, "“To”"),
        ({"since": "1999-12-31"}, "“From”"),
        ({"since": "2026-02-30"}, "“From”"),
        ({"until": "yesterday"}, "“To”"),
        ({"until": "2026-12-02T10:00"}, "“To”"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "“From” date is after the “To” date"),
    ],
)
@pytest.mark.parametrize("form", ["page", "csv"])
def test_a_filter_out_of_range_is_a_readable_400(
    client, school, school_admin, query, named, form
) -> None:
    sign_in(client, school_admin.email)
    if form == "csv":
        query = {**query, "format": "csv"}
    response = client.get(f"/schools/{school.urn}/history", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "That history filter cannot be used" in page
    assert named in page
    assert f'href="/schools/{school.urn}/history"' in page


def test_every_wrong_filter_is_named_at_once(client, school, school_admin) -> None:
    sign_in(client, school_admin.email)
    response = client.get(
        f"/schools/{school.urn}/history?application=-3&since=9999-12-31&until=2026-13-01"
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert all(name in page for name in ("“Application”", "“From”", "“To”"))


@pytest.mark.parametrize("form", ["page", "csv"])
def test_the_widest_dates_and_largest_id_are_accepted(client, school, school_admin, form) -> None:
    sign_in(client, school_admin.email)
    query = {"since": "2000-01-01", "until": "2999-12-31", "application": str(2**31 - 1)}
    if form == "csv":
        query["format"] = "csv"
    assert client.get(f"/schools/{school.urn}/history", query_string=query).status_code == 200
