"""Granted against read, per field: each connection's page lists every detail it shares with
what its application read of each in the last 30 days, and names what it never reads."""

from __future__ import annotations

import datetime as dt
import html as markup
import re

import pytest

from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from tests.api.conftest import seeded_school  # noqa: F401 (a fixture: the school's MIS data)
from tests.consent.connections import Connection
from tests.oauth_flow import sign_in

CATALOGUE = default_catalogue()
LEFT_OUT = "contact.work_telephone"


@pytest.fixture
def school(seeded_school):  # noqa: F811 (the seeded school in place of an empty one)
    return seeded_school


@pytest.fixture
def maths_app(app, client, make_app, school, school_admin) -> Connection:
    """Pupils' names required, contacts optional with one detail left out."""
    connection = Connection(
        app,
        client,
        make_app,
        school,
        school_admin,
        required={"StudentLite": "Names on the register."},
        optional={"Contact": "To phone parents."},
        excluded=(LEFT_OUT,),
    )
    assert sign_in(client, school_admin.email).status_code == 302
    return connection


def use_page(client, school, connection: Connection) -> str:
    response = client.get(f"/schools/{school.urn}/connections/{connection.grant_id}/use")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return markup.unescape(response.get_data(as_text=True))


def described(field: str) -> str:
    """A field as the page names it: whose it is, and which detail."""
    return f"{CATALOGUE.entity_label(field.split('.')[0])}: {CATALOGUE.field_label(field)}"


def row_of(page: str, field: str) -> list[str]:
    """The cells of a detail's row in the per-field tables: requests, records, last read."""
    label = re.escape(described(field))
    match = re.search(rf'<th scope="row">{label}</th>\s*(.*?)</tr>', page, re.S)
    assert match, f"no row for {field}"
    return re.findall(r"<td>(.*?)</td>", match.group(1), re.S)


def never_read(page: str) -> str:
    return page.split('id="never-heading"')[1].split("</section>")[0]


def test_each_connection_links_to_its_use_page(client, school, maths_app) -> None:
    page = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert f'href="/schools/{school.urn}/connections/{maths_app.grant_id}/use"' in page
    assert "See what Maths App read, detail by detail" in page


def test_fields_read_through_the_api_are_counted_in_requests_and_records(
    client, school, maths_app
) -> None:
    assert len(maths_app.read("students", limit=5)) == 5
    assert len(maths_app.read("students", limit=3)) == 3
    page = use_page(client, school, maths_app)
    requests, records, last_read = row_of(page, "student.forename")
    assert (requests, records) == ("2", "8")
    assert dt.datetime.now(dt.UTC).strftime("%d %B %Y") in last_read
    # A field of the grant the application did not ask for in these reads.
    assert row_of(page, "contact.email")[:2] == ["0", "0"]
    assert "StudentLite: 7 of its 15 details read in the last 30 days" in page


def test_what_is_never_read_is_named_with_where_to_leave_it_out(client, school, maths_app) -> None:
    maths_app.read("students", limit=5)
    section = never_read(use_page(client, school, maths_app))
    optional, required = section.split("says it needs these")
    assert described("contact.email") in optional
    assert "you can leave these out in the connection's settings" in optional
    assert f'href="/schools/{school.urn}#grant-{maths_app.grant_id}"' in optional
    # StudentLite is required: its unread details cannot be left out on their own.
    assert described("group_membership.start_date") in required
    assert described("group_membership.start_date") not in optional
    assert described("student.forename") not in section


def test_fields_the_school_left_out_are_not_listed_as_shared(client, school, maths_app) -> None:
    page = use_page(client, school, maths_app)
    assert described(LEFT_OUT) not in page
    assert "You already leave out 1 detail." in page
    shared = {f for s in ("StudentLite", "Contact") for f in CATALOGUE[s].fields} - {LEFT_OUT}
    assert f"Maths App may read {len(shared)} details." in page
    for field in shared:
        row_of(page, field)


def test_reads_count_for_30_utc_days(app, client, school, maths_app) -> None:
    from authserver.domain import field_use

    today = dt.datetime.now(dt.UTC).date()
    noon = dt.time(12, tzinfo=dt.UTC)
    with app.app_context():
        for days_ago, rows in ((30, 1000), (29, 20)):
            field_use.record_read(
                school_id=school.id,
                application_id=maths_app.application.id,
                fields=["contact.email"],
                rows=rows,
                at=dt.datetime.combine(today - dt.timedelta(days=days_ago), noon),
            )
        db.session.commit()
    page = use_page(client, school, maths_app)
    assert row_of(page, "contact.email")[:2] == ["1", "20"]
    first = today - dt.timedelta(days=29)
    assert f"{first:%d %B %Y} to {today:%d %B %Y}" in page


def test_the_school_page_rolls_fields_up_per_scope(client, school, maths_app) -> None:
    maths_app.read("students", limit=2)
    page = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Read in the last 30 days</dt><dd>StudentLite</dd>" in page
    assert "Never read lately</dt><dd>Contact" in page
    maths_app.read("contacts", limit=2)
    page = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Read in the last 30 days</dt><dd>StudentLite, Contact</dd>" in page
    assert "Never read lately" not in page


def test_a_field_every_scope_shares_counts_for_the_smallest(
    app, client, make_app, school, school_admin
) -> None:
    both = Connection(
        app,
        client,
        make_app,
        school,
        school_admin,
        name="Register App",
        required={"StudentLite": "Names.", "Student": "Dates of birth."},
    )
    sign_in(client, school_admin.email)
    # Names only: both scopes give them, the smaller one is all the reads needed.
    both.read("students", "StudentLite", limit=1)
    page = use_page(client, school, both)
    assert "Data sets that served what it read</dt><dd>StudentLite</dd>" in page
    assert "Data sets not needed for anything it read</dt><dd>Student</dd>" in page
    both.read("students", limit=1)  # dates of birth too: only Student gives them
    page = use_page(client, school, both)
    assert "Data sets that served what it read</dt><dd>Student</dd>" in page
    assert "Data sets not needed for anything it read</dt><dd>StudentLite</dd>" in page


def test_another_schools_connection_is_not_found(
    client, school, maths_app, make_school, make_user
) -> None:
    from authserver.models import Role

    other = make_school(name="Elsewhere")
    elsewhere_admin = make_user(Role.SCHOOL_ADMIN, school=other)
    path = f"/connections/{maths_app.grant_id}/use"
    assert client.get(f"/schools/{other.urn}{path}").status_code == 404
    assert (
        client.get(f"/schools/{school.urn}/connections/{maths_app.grant_id + 99}/use").status_code
        == 404
    )
    visitor = client.application.test_client()
    assert visitor.get(f"/schools/{school.urn}{path}").status_code == 302
    sign_in(visitor, elsewhere_admin.email)
    assert visitor.get(f"/schools/{school.urn}{path}").status_code == 404


def test_only_the_fields_sent_count_as_read_includes_and_sparse_fieldsets_too(
    client, school, maths_app
) -> None:
    maths_app.read("students", limit=4, include="contacts", fields="surname,contacts.email")
    page = use_page(client, school, maths_app)
    assert row_of(page, "student.surname")[0] == "1"
    assert row_of(page, "contact.email")[0] == "1"
    for unsent in ("student.forename", "contact.surname"):
        assert described(unsent) in never_read(page)


def test_an_application_polling_empty_pages_is_named_as_never_reading_them(
    client, school, maths_app
) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    for _ in range(3):  # a sync asking every hour for what changed, and nothing did
        assert maths_app.read("contacts", updated_after=tomorrow) == []
        assert maths_app.read("students", updated_after=tomorrow, include="contacts") == []
    page = use_page(client, school, maths_app)
    assert row_of(page, "contact.email")[:2] == ["0", "0"]
    assert row_of(page, "student.surname")[:2] == ["0", "0"]
    optional, required = never_read(page).split("says it needs these")
    assert described("contact.email") in optional
    assert described("student.surname") in required


def test_an_included_field_counts_the_included_records(client, school, maths_app) -> None:
    pupils = maths_app.read(
        "students", limit=3, include="contacts", fields="surname,contacts.email"
    )
    contacts = sum(len(pupil["contacts"]) for pupil in pupils)
    assert contacts != len(pupils), "pick pupils whose contacts are not one each"
    page = use_page(client, school, maths_app)
    assert row_of(page, "student.surname")[:2] == ["1", "3"]
    assert row_of(page, "contact.email")[:2] == ["1", str(contacts)]
