"""The school's public page for families (/schools/{urn}/privacy): the applications in use,
what each receives and why, since when and when last reviewed; no personal data; cached
with an ETag that any decision changes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import update

from authserver.domain import grants, members
from authserver.extensions import db
from authserver.models import Application, Grant, School, User
from authserver.models.columns import utcnow
from consent.transparency import PUBLIC_PAGE_MAX_AGE_SECONDS
from tests.launcher_world import connect as approve
from tests.oauth_flow import csrf_token, sign_in


def privacy_page(client, school, **headers):
    return client.get(f"/schools/{school.urn}/privacy", headers=headers)


def text_of(response) -> str:
    """The page's words, tags dropped and spaces squeezed."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section_of(response, application_name: str) -> str:
    """The HTML of one application's part of the page."""
    html = response.get_data(as_text=True)
    for part in html.split('<section class="scope-card"')[1:]:
        if f">{application_name}</h2>" in part:
            return part.split("</section>")[0]
    raise AssertionError(f"{application_name} is not on the page")


def test_the_page_lists_each_application_in_use_with_what_it_receives_and_why(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(
        name="Lunch Queue",
        required={"StudentLite": "To know who is in the queue."},
        optional={"DietaryNeeds": "To warn the kitchen of allergies."},
        website_url="https://lunch.example.com",
    )
    approve(app, application, school, school_admin)
    today = utcnow().date()

    response = privacy_page(client, school)

    assert response.status_code == 200
    words = text_of(response)
    assert f"Apps that receive data from {school.name}" in words
    part = section_of(response, "Lunch Queue")
    assert "Test Vendor Ltd" in part
    assert "To know who is in the queue." in part
    assert "To warn the kitchen of allergies." in part
    assert "allergies, food intolerances and special diets" in part
    # Special category data is marked in words, beside the row's category, not by colour alone.
    rows = re.findall(r"<tr>(.*?)</tr>", part, flags=re.S)
    dietary = next(row for row in rows if "allergies" in row)
    names = next(row for row in rows if "who is in the queue" in row)
    assert ">Sensitive<" in dietary
    assert "Sensitive" not in names
    assert "Students" in dietary
    day = f"{today.day} {today:%B %Y}"
    assert re.search(rf"First approved</dt><dd>{day}</dd>", part)
    assert re.search(rf"Last reviewed by the school</dt><dd>{day}</dd>", part)
    assert 'href="https://app.example.com/privacy"' in part
    assert 'href="https://app.example.com/terms"' in part
    assert "Data processing agreement" in part
    assert "The whole school" in part


def test_the_page_needs_no_sign_in_and_names_no_one(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Lunch Queue")
    approve(app, application, school, school_admin)
    anonymous = privacy_page(client, school)
    assert anonymous.status_code == 200

    # Signed in, the admin gets the very same page: nothing of theirs, nothing to store.
    assert sign_in(client, school_admin.email).status_code == 302
    signed_in = privacy_page(client, school)

    assert signed_in.get_data() == anonymous.get_data()
    assert signed_in.headers["ETag"] == anonymous.headers["ETag"]
    assert "Set-Cookie" not in signed_in.headers
    for response in (anonymous, signed_in):
        html = response.get_data(as_text=True)
        assert school_admin.email not in html
        assert "Test User" not in html  # the approver's name
        assert "dpo@vendor.example.com" not in html  # nor the vendor's contact
        assert "Dana Protector" not in html
        assert "csrf_token" not in html
        assert "<script" not in html  # readable without JavaScript, as it has none


def test_only_grants_in_force_are_listed(app, client, make_app, school, school_admin) -> None:
    kept, _ = make_app(name="Kept App")
    withdrawn, _ = make_app(name="Withdrawn App")
    ended, _ = make_app(name="Ended App")
    asking, _ = make_app(name="Asking App")
    approve(app, kept, school, school_admin)
    withdrawn_id = approve(app, withdrawn, school, school_admin)
    ended_id = approve(app, ended, school, school_admin)
    with app.app_context():
        grants.revoke(db.session.get(Grant, withdrawn_id), by=db.session.get(User, school_admin.id))
        db.session.execute(
            update(Grant)
            .where(Grant.id == ended_id)
            .values(expires_at=utcnow() - dt.timedelta(minutes=1))
        )
        grants.request_access(
            db.session.get(Application, asking.id),
            db.session.get(School, school.id),
            actor=db.session.get(User, school_admin.id),
        )
        db.session.commit()

    words = text_of(privacy_page(client, school))

    assert "Kept App" in words
    for absent in ("Withdrawn App", "Ended App", "Asking App"):
        assert absent not in words
    assert "1 application in use" in words


def test_a_school_with_no_applications_says_so(client, school) -> None:
    response = privacy_page(client, school)
    assert response.status_code == 200
    assert f"No application receives data from {school.name} at the moment." in text_of(response)


def test_first_approval_and_last_review_are_the_connection_s_own_dates(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Lunch Queue")
    grant_id = approve(app, application, school, school_admin, optional=[])
    with app.app_context():
        first = dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)
        db.session.execute(update(Grant).where(Grant.id == grant_id).values(created_at=first))
        db.session.commit()
    # A later decision (more shared, and a field left out) is the connection's last review.
    approve(app, application, school, school_admin, excluded_fields=("dietary_need.description",))
    today = utcnow().date()

    part = section_of(privacy_page(client, school), "Lunch Queue")

    assert "First approved</dt><dd>1 September 2025</dd>" in part
    assert f"Last reviewed by the school</dt><dd>{today.day} {today:%B %Y}</dd>" in part
    # What the school left out is said in the catalogue's words.
    assert "The school leaves out:" in part


def test_a_narrowed_grant_says_only_some_pupils_and_names_no_group(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Year Seven Maths")
    approve(app, application, school, school_admin, group_ids=(123,))
    part = section_of(privacy_page(client, school), "Year Seven Maths")
    assert "Only some pupils', chosen by the school" in part
    assert "123" not in part


def test_a_sign_in_application_is_listed_as_signing_people_in(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(
        name="Reading Club",
        required={"openid": "So that pupils sign in with their school account."},
        optional={},
    )
    approve(app, application, school, school_admin)
    with app.app_context():
        members.set_enabled_roles(db.session(), school.id, ["student", "parent"], by="test")
        db.session.commit()

    part = section_of(privacy_page(client, school), "Reading Club")

    assert "Signs people in" in part
    assert "Pupils and parents and carers can sign in to Reading Club" in part
    assert "So that pupils sign in with their school account." in part
    assert "receives no records from the school's information system" in part
    assert "<table>" not in part


def test_the_page_is_cached_publicly_and_answers_304_while_nothing_changed(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Lunch Queue")
    approve(app, application, school, school_admin)
    first = privacy_page(client, school)
    assert first.headers["Cache-Control"] == f"public, max-age={PUBLIC_PAGE_MAX_AGE_SECONDS}"
    assert 60 <= PUBLIC_PAGE_MAX_AGE_SECONDS <= 600
    etag = first.headers["ETag"]
    assert etag

    again = privacy_page(client, school, **{"If-None-Match": etag})

    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"].startswith("public")


def test_a_revocation_shows_up_at_once_to_a_conditional_request(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Lunch Queue")
    grant_id = approve(app, application, school, school_admin)
    before = privacy_page(client, school)
    assert "Lunch Queue" in text_of(before)

    assert sign_in(client, school_admin.email).status_code == 302
    dashboard = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    revoked = client.post(
        f"/schools/{school.urn}/connections/{grant_id}/revoke",
        data={"csrf_token": csrf_token(dashboard)},
    )
    assert revoked.status_code == 302

    after = privacy_page(client, school, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "Lunch Queue" not in text_of(after)


@pytest.mark.parametrize("decision", ["approve another", "narrow", "withdraw a scope"])
def test_a_decision_that_changes_the_page_changes_its_etag(
    app, client, make_app, school, school_admin, decision
) -> None:
    application, _ = make_app(name="Lunch Queue")
    approve(app, application, school, school_admin)
    before = privacy_page(client, school).headers["ETag"]
    if decision == "approve another":
        other, _ = make_app(name="Homework Hub")
        approve(app, other, school, school_admin)
    elif decision == "narrow":
        approve(app, application, school, school_admin, group_ids=(7,))
    else:
        approve(app, application, school, school_admin, excluded_fields=("contact.forename",))

    assert privacy_page(client, school, **{"If-None-Match": before}).status_code == 200


def test_a_vendor_asking_again_is_no_decision_and_changes_nothing(
    app, client, make_app, school, school_admin
) -> None:
    application, _ = make_app(name="Lunch Queue")
    approve(app, application, school, school_admin, optional=[])
    before = privacy_page(client, school).headers["ETag"]
    with app.app_context():
        grants.request_access(
            db.session.get(Application, application.id),
            db.session.get(School, school.id),
            actor=db.session.get(User, school_admin.id),
        )
        db.session.commit()
    assert privacy_page(client, school, **{"If-None-Match": before}).status_code == 304


def test_an_unknown_urn_is_a_readable_404(client) -> None:
    response = client.get("/schools/999999999/privacy")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "No school with that URN uses School Data Access" in text_of(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_closed_school_says_so(app, client, make_app, school, school_admin) -> None:
    application, _ = make_app(name="Lunch Queue")
    approve(app, application, school, school_admin)
    with app.app_context():
        db.session.execute(
            update(School)
            .where(School.id == school.id)
            .values(closed_at=dt.datetime(2026, 8, 31, tzinfo=dt.UTC))
        )
        db.session.commit()

    words = text_of(privacy_page(client, school))

    assert f"{school.name} has closed" in words
    assert "closed on 31 August 2026" in words
    assert "Lunch Queue" in words


def test_the_school_s_dashboard_links_to_its_public_page(app, client, school, school_admin) -> None:
    assert sign_in(client, school_admin.email).status_code == 302
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    issuer = app.config["SETTINGS"].issuer
    url = f"{issuer}/schools/{school.urn}/privacy"
    assert "Your public privacy page" in html
    assert f'<a href="{url}">{url}</a>' in html


@contextmanager
def counted_statements(app) -> Iterator[list[str]]:
    """The SQL statements run meanwhile, on the test's connection (or the app's engine)."""
    with app.app_context():
        bind = db.engines[None]
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sa.event.listen(bind, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(bind, "before_cursor_execute", note)


def test_many_connections_cost_no_more_statements_than_one(
    app, client, make_app, make_vendor, school, school_admin
) -> None:
    first, _ = make_app(name="App 0")
    approve(app, first, school, school_admin)
    privacy_page(client, school)  # anything loaded once per process is loaded now
    with counted_statements(app) as one:
        assert privacy_page(client, school).status_code == 200
    for number in range(1, 8):
        owner = make_vendor(name=f"Vendor {number} Ltd")
        application, _ = make_app(name=f"App {number}", owner=owner)
        approve(app, application, school, school_admin)
        with app.app_context():
            members.set_enabled_roles(db.session(), school.id, ["student"], by="test")
            db.session.commit()

    with counted_statements(app) as many:
        response = privacy_page(client, school)

    assert response.status_code == 200
    assert text_of(response).count("Vendor 7 Ltd") >= 1
    assert len(many) == len(one), "\n".join(many)
    assert len(many) <= 5
