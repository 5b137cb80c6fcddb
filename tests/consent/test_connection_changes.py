"""A school changes a connection in place from its dashboard: a new version each time, tokens
stopped when it narrows, the vendor told what changed, a receipt kept for every version."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from authserver import webhooks
from authserver.domain.grants import end_of_academic_year
from authserver.extensions import db
from authserver.models import (
    Application,
    AuditEvent,
    Grant,
    GrantReceipt,
    Role,
    User,
    WebhookDelivery,
)
from authserver.receipts import verify_receipt
from tests.consent.change_pages import submitted
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, query_of, sign_in
from tests.webhook_deliveries import assert_matches_document

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def year_groups(app, school) -> dict[str, int]:
    from authserver.models.mis.structure import Group

    with app.app_context():
        groups = {
            name: Group(school_id=school.id, type="year", name=name, nc_year=year)
            for name, year in (("Year 7", "7"), ("Year 8", "8"))
        }
        db.session.add_all(groups.values())
        db.session.commit()
        return {name: group.id for name, group in groups.items()}


@pytest.fixture
def connection(app, client, make_app, school_admin, year_groups) -> dict:
    """An application the school approved through the OAuth flow (required StudentLite and
    Attendance, optional Contact ticked, DietaryNeeds not), with a webhook and a live token."""
    application, secret = make_app(
        required={"StudentLite": "Names.", "Attendance": "Registers."},
        optional={"Contact": "To phone parents.", "DietaryNeeds": "Allergies."},
    )
    with app.app_context():
        webhooks.set_webhook(
            db.session.get(Application, application.id), "https://hooks.example.com/events"
        )
        db.session.commit()
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    flow.start()
    code = query_of(flow.decide(optional=("Contact",)))["code"]
    token = flow.exchange(code).get_json()
    with app.app_context():
        grant_id = db.session.scalar(select(Grant.id))
    return {"application": application, "flow": flow, "token": token, "grant_id": grant_id}


def is_active(client, resource_server, token: str) -> bool:
    server, secret = resource_server
    return client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(server.client_id, secret)
    ).get_json()["active"]


def grant_now(app, grant_id: int) -> Grant:
    with app.app_context():
        grant = db.session.get(Grant, grant_id)
        db.session.expunge(grant)
        return grant


def events(app, event_type: str) -> list[dict]:
    with app.app_context():
        bodies = db.session.scalars(
            select(WebhookDelivery.body)
            .where(WebhookDelivery.event_type == event_type)
            .order_by(WebhookDelivery.id)
        )
        return [json.loads(body) for body in bodies]


class ChangePage:
    """The school admin on the change page of one connection, as test verbs."""

    def __init__(self, client, school, grant_id: int) -> None:
        self.client = client
        self.path = f"/schools/{school.urn}/connections/{grant_id}/change"

    def open(self):
        return self.client.get(self.path)

    def review(self, **choices):
        """Fill in the form as shown, with `choices` over it, and ask to review."""
        page = self.open()
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        data = submitted(page.get_data(as_text=True), self.path, **choices)
        return self.client.post(self.path, data={**data, "review": "1"})

    def confirm(self, **choices):
        """Review, then confirm on the page that shows what changes."""
        checked = self.review(**choices)
        assert checked.status_code == 200, checked.get_data(as_text=True)[:2000]
        data = submitted(checked.get_data(as_text=True), self.path)
        return self.client.post(self.path, data={**data, "confirm": "1"})


@pytest.fixture
def change_page(client, school, connection) -> ChangePage:
    return ChangePage(client, school, connection["grant_id"])


def test_the_dashboard_links_each_connection_to_its_change_page(client, school, connection) -> None:
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert f"/connections/{connection['grant_id']}/change" in html
    assert "Change what Register Radar can see" in html


def test_unticking_an_optional_scope_makes_a_new_version_and_stops_every_token(
    app, client, change_page, connection, resource_server
) -> None:
    checked = change_page.review(scopes=["StudentLite", "Attendance"])
    html = checked.get_data(as_text=True)
    assert "No longer shares: Contact" in html
    assert "will see less" in html
    assert grant_now(app, connection["grant_id"]).version == 1  # nothing saved on review
    assert is_active(client, resource_server, connection["token"]["access_token"])

    done = change_page.confirm(scopes=["StudentLite", "Attendance"])
    assert done.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert (grant.version, grant.scopes) == (2, ["StudentLite", "Attendance"])
    assert not is_active(client, resource_server, connection["token"]["access_token"])
    assert not is_active(client, resource_server, connection["token"]["refresh_token"])
    (event,) = events(app, "connection.scopes_changed")
    assert event["data"]["grant_version"] == 2
    assert event["data"]["scopes"] == ["StudentLite", "Attendance"]
    assert event["data"]["changes"]["scopes"] == {"added": [], "removed": ["Contact"]}
    assert event["data"]["changes"]["narrowed"] is True
    assert event["data"]["changes"]["previous_version"] == 1
    assert "expires_at" not in event["data"]["changes"]


def test_a_school_can_add_an_optional_scope_the_application_asks_for_without_stopping_tokens(
    app, client, change_page, connection, resource_server
) -> None:
    done = change_page.confirm(scopes=["StudentLite", "Attendance", "Contact", "DietaryNeeds"])
    assert done.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert grant.version == 2
    assert "DietaryNeeds" in grant.scopes
    # Widening takes nothing away: what the application holds keeps working.
    assert is_active(client, resource_server, connection["token"]["access_token"])
    (event,) = events(app, "connection.scopes_changed")
    assert event["data"]["changes"]["scopes"]["added"] == ["DietaryNeeds"]
    assert event["data"]["changes"]["narrowed"] is False


def test_a_scope_the_application_never_asked_for_cannot_be_added(
    app, change_page, connection
) -> None:
    response = change_page.review(scopes=["StudentLite", "Attendance", "Contact", "StudentMedical"])
    assert response.status_code == 400
    assert "not a valid choice" in response.get_data(as_text=True)
    assert grant_now(app, connection["grant_id"]).version == 1


def test_withdrawing_a_required_scope_says_it_ends_the_connection_before_it_does(
    app, client, change_page, connection, resource_server
) -> None:
    checked = change_page.review(scopes=["StudentLite", "Contact"])
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert "This ends the connection" in html
    assert "Attendance" in html.split('id="ends-warning"')[1].split("</div>")[0]
    assert "s access now</button>" in html
    assert grant_now(app, connection["grant_id"]).status == "active"

    done = change_page.confirm(scopes=["StudentLite", "Contact"])
    assert done.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert grant.status == "revoked"
    assert not is_active(client, resource_server, connection["token"]["access_token"])
    assert [e["data"]["scopes"] for e in events(app, "connection.revoked")] == [[]]
    assert "Access withdrawn" in client.get(done.headers["Location"]).get_data(as_text=True)
    history = client.get(done.headers["Location"].split("#")[0] + "/history")
    assert "Ended by withdrawing Attendance, which the application requires." in (
        history.get_data(as_text=True)
    )


def test_going_back_from_the_check_keeps_the_choices_and_saves_nothing(
    app, client, change_page, connection
) -> None:
    checked = change_page.review(scopes=["StudentLite", "Attendance"])
    data = submitted(checked.get_data(as_text=True), change_page.path)
    back = client.post(change_page.path, data={**data, "back": "1"})
    html = back.get_data(as_text=True)
    assert back.status_code == 200
    assert 'id="scope-Contact"' in html
    assert submitted(html, change_page.path)["scopes"] == ["StudentLite", "Attendance"]
    assert grant_now(app, connection["grant_id"]).version == 1


def test_narrowing_to_some_year_groups_and_widening_back(
    app, client, change_page, connection, year_groups, resource_server
) -> None:
    year_7 = year_groups["Year 7"]
    done = change_page.confirm(audience="some", group_ids=[str(year_7)])
    assert done.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert grant.restrictions["group_ids"] == [year_7]
    assert not is_active(client, resource_server, connection["token"]["access_token"])
    narrowed = events(app, "connection.scopes_changed")[-1]["data"]
    assert narrowed["changes"]["group_ids"] == {"added": [year_7], "removed": []}
    assert narrowed["restrictions"]["group_ids"] == [year_7]

    # A token issued under the narrower version keeps working when the school widens again.
    flow = connection["flow"]
    flow.start()
    decided = flow.decide(extra={"audience": "some", "group_ids": [str(year_7)]})
    token = flow.exchange(query_of(decided)["code"]).get_json()
    assert grant_now(app, connection["grant_id"]).version == 2  # the same decision again
    assert is_active(client, resource_server, token["access_token"])
    widened = change_page.confirm(audience="all", group_ids=None)
    assert widened.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert grant.restrictions["group_ids"] == []
    assert is_active(client, resource_server, token["access_token"])
    last = events(app, "connection.scopes_changed")[-1]["data"]["changes"]
    assert last["group_ids"] == {"added": [], "removed": [year_7]}
    assert last["narrowed"] is False


def test_a_group_of_another_school_cannot_be_chosen(app, change_page, connection) -> None:
    response = change_page.review(audience="some", group_ids=["999999"])
    assert response.status_code == 400
    assert grant_now(app, connection["grant_id"]).version == 1


def test_choosing_some_pupils_needs_a_group(app, change_page, connection) -> None:
    response = change_page.review(audience="some", group_ids=None)
    assert response.status_code == 400
    assert "Choose at least one year group or class" in response.get_data(as_text=True)


def test_details_of_an_optional_scope_can_be_left_out_and_given_back(
    app, client, change_page, connection, resource_server
) -> None:
    html = change_page.open().get_data(as_text=True)
    shared = submitted(html, change_page.path)["shared_fields"]
    assert "contact.email" in shared
    assert "student.forename" not in shared  # a required scope's details are not offered
    done = change_page.confirm(shared_fields=[f for f in shared if f != "contact.email"])
    assert done.status_code == 302
    assert grant_now(app, connection["grant_id"]).restrictions["excluded_fields"] == [
        "contact.email"
    ]
    assert not is_active(client, resource_server, connection["token"]["access_token"])
    left_out = events(app, "connection.scopes_changed")[-1]["data"]["changes"]
    assert left_out["excluded_fields"] == {"left_out": ["contact.email"], "restored": []}

    again = change_page.confirm(shared_fields=shared)
    assert again.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert (grant.version, grant.restrictions["excluded_fields"]) == (3, [])
    restored = events(app, "connection.scopes_changed")[-1]["data"]["changes"]
    assert restored["excluded_fields"] == {"left_out": [], "restored": ["contact.email"]}


PUPIL_LINK_LIMIT = "can still match records to pupils by when they come and go"


def test_leaving_out_a_records_pupil_says_what_it_does_not_hide(change_page) -> None:
    html = change_page.open().get_data(as_text=True)
    assert 'aria-describedby="pupil-link-Contact"' in html
    assert PUPIL_LINK_LIMIT in html.split('id="pupil-link-Contact"')[1].split("</p>")[0]
    shared = submitted(html, change_page.path)["shared_fields"]

    def what_changes(left_out: str) -> str:
        page = change_page.review(shared_fields=[f for f in shared if f != left_out])
        return (
            page.get_data(as_text=True).split('id="what-changes-heading"')[1].split("</section")[0]
        )

    assert PUPIL_LINK_LIMIT not in what_changes("contact.email")
    check = what_changes("student_contact.student_id")
    assert "Details left out: Pupil" in check
    assert PUPIL_LINK_LIMIT in check
    assert "leave Contact out altogether" in check


def test_the_end_date_can_be_any_day_within_three_years(
    app, client, change_page, connection, resource_server
) -> None:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=100)
    checked = change_page.review(duration="on_date", end_date=day.isoformat())
    assert f"End date: {day.day} {day:%B %Y} (was none, until withdrawn)" in checked.get_data(
        as_text=True
    )
    done = change_page.confirm(duration="on_date", end_date=day.strftime("%d/%m/%Y"))
    assert done.status_code == 302
    grant = grant_now(app, connection["grant_id"])
    assert grant.expires_at == dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    assert grant.version == 2
    # A later end takes nothing away today: tokens go on.
    assert is_active(client, resource_server, connection["token"]["access_token"])
    change = events(app, "connection.scopes_changed")[-1]["data"]["changes"]
    assert change["expires_at"]["before"] is None
    assert change["expires_at"]["after"].startswith((day + dt.timedelta(days=1)).isoformat())
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"{day:%d %B %Y} (the last day)" in page


def test_the_end_of_the_academic_year_can_be_chosen(app, change_page, connection) -> None:
    assert change_page.confirm(duration="end_of_year").status_code == 302
    expected = end_of_academic_year(dt.datetime.now(dt.UTC).date())
    assert grant_now(app, connection["grant_id"]).expires_at == expected


@pytest.mark.parametrize(
    ("end_date", "message"),
    [
        ("not a date", "Enter the end date as a date, such as 31/07/2027."),
        ("2027-02-30", "Enter the end date as a date"),
        ("", "Enter the date the sharing should end"),
        ("2001-01-01", "The end date is in the past"),
        ("far", "Enter the end date as a date"),
        ("+4y", None),
    ],
)
def test_an_end_date_that_cannot_be_used_is_a_readable_page(
    app, change_page, connection, end_date: str, message: str | None
) -> None:
    if end_date == "+4y":
        end_date = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=4 * 366)).isoformat()
        message = "The end date can be at most 3 years ahead"
    response = change_page.review(duration="on_date", end_date=end_date)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert 'aria-describedby="end-date-hint end-date-error"' in html
    assert 'name="end_date"' in html  # the form, to put it right
    assert grant_now(app, connection["grant_id"]).version == 1


def test_changing_nothing_is_refused_in_words(app, change_page, connection) -> None:
    response = change_page.review()
    assert response.status_code == 400
    assert "You have not changed anything yet" in response.get_data(as_text=True)


def test_the_change_needs_a_csrf_token(app, client, change_page, connection) -> None:
    page = change_page.open().get_data(as_text=True)
    data = submitted(page, change_page.path, csrf_token=None, scopes=["StudentLite", "Attendance"])
    response = client.post(change_page.path, data={**data, "confirm": "1"})
    assert response.status_code == 400
    assert grant_now(app, connection["grant_id"]).version == 1


def test_an_admin_without_the_approver_right_sees_but_cannot_change(
    app, school, connection, make_user
) -> None:
    viewer = make_user(Role.SCHOOL_ADMIN, school=school, can_approve=False)
    browser = app.test_client()
    sign_in(browser, viewer.email)
    dashboard = browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Register Radar" in dashboard
    assert "/change" not in dashboard
    path = f"/schools/{school.urn}/connections/{connection['grant_id']}/change"
    assert browser.get(path).status_code == 403
    response = browser.post(
        path,
        data={
            "csrf_token": csrf_token(dashboard),
            "scopes": ["StudentLite", "Attendance"],
            "confirm": "1",
        },
    )
    assert response.status_code == 403
    assert grant_now(app, connection["grant_id"]).version == 1


def test_another_schools_connection_is_not_found(
    app, client, connection, make_school, make_user
) -> None:
    other = make_school(name="Elsewhere")
    other_admin = make_user(Role.SCHOOL_ADMIN, school=other)
    browser = app.test_client()
    sign_in(browser, other_admin.email)
    path = f"/schools/{other.urn}/connections/{connection['grant_id']}/change"
    assert browser.get(path).status_code == 404


def test_each_version_keeps_its_own_signed_receipt(
    app, client, school, change_page, connection
) -> None:
    change_page.confirm(scopes=["StudentLite", "Attendance"])
    base = f"/schools/{school.urn}/connections/{connection['grant_id']}"
    first = client.get(f"{base}/receipts/1")
    second = client.get(f"{base}/receipts/2")
    assert first.status_code == second.status_code == 200
    assert "v1.json" in first.headers["Content-Disposition"]
    with app.app_context():
        assert verify_receipt(first.get_json())
        assert verify_receipt(second.get_json())
    scopes_of = [
        [s["name"] for s in r.get_json()["receipt"]["grant"]["scopes"]] for r in (first, second)
    ]
    assert scopes_of == [["StudentLite", "Attendance", "Contact"], ["StudentLite", "Attendance"]]
    # The kept receipt is the one issued then, byte for byte, not signed afresh.
    assert client.get(f"{base}/receipts/1").get_json() == first.get_json()
    assert client.get(f"{base}/receipts/3").status_code == 404
    current = client.get(f"{base}/receipt")
    assert current.get_json()["receipt"]["grant"]["version"] == 2
    dashboard = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Receipt of version 1 for Register Radar" in dashboard
    assert "Receipt of version 2 for Register Radar" in dashboard
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(GrantReceipt)) == 2


def test_the_history_shows_what_changed(app, client, school, change_page, connection) -> None:
    change_page.confirm(scopes=["StudentLite", "Attendance"], duration="end_of_year")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "grant:changed"))
        assert event.detail["version"] == 2
        assert event.detail["changes"]["scopes"]["removed"] == ["Contact"]
    html = client.get(f"/schools/{school.urn}/history").get_data(as_text=True)
    assert "grant:changed" in html
    assert "No longer shares: Contact" in html
    assert "End date:" in html


def test_the_change_payload_is_as_the_openapi_document_says(
    app, client, change_page, connection, year_groups
) -> None:
    change_page.confirm(
        scopes=["StudentLite", "Attendance", "DietaryNeeds"],
        audience="some",
        group_ids=[str(year_groups["Year 8"])],
        duration="end_of_year",
    )
    (event,) = events(app, "connection.scopes_changed")
    assert_matches_document(client, event)


def test_approving_more_on_the_consent_screen_names_what_was_added(app, connection) -> None:
    flow = connection["flow"]
    flow.start()
    query_of(flow.decide(optional=("DietaryNeeds",)))
    (event,) = events(app, "connection.scopes_changed")
    assert event["data"]["grant_version"] == 2
    assert event["data"]["changes"]["scopes"] == {"added": ["DietaryNeeds"], "removed": []}
    assert event["data"]["changes"]["narrowed"] is False
    with app.app_context():
        kept = db.session.scalars(select(GrantReceipt.version).order_by(GrantReceipt.version))
        assert list(kept) == [1, 2]  # the consent screen keeps each version's receipt too


def test_a_reminder_is_in_the_schools_history_in_words(
    app, client, school, change_page, connection
) -> None:
    from authserver.domain import grants

    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    change_page.confirm(duration="on_date", end_date=day.isoformat())
    with app.app_context():
        assert len(grants.remind_due()) == 1
        db.session.commit()
    html = client.get(f"/schools/{school.urn}/history").get_data(as_text=True)
    assert "grant:expiry_reminded" in html
    assert f"Register Radar was told that sharing ends after {day.day} {day:%B %Y}." in html


@pytest.mark.parametrize(
    ("added", "message"),
    [
        ("StudentMedical", "Register Radar does not ask for StudentMedical"),
        ("Behaviour", "unknown scope"),
    ],
)
def test_the_domain_refuses_a_scope_the_application_does_not_ask_for(
    app, connection, school_admin, added: str, message: str
) -> None:
    from authserver.domain import grants
    from authserver.domain.catalogue import UnknownScopeError

    with app.app_context():
        grant = db.session.get(Grant, connection["grant_id"])
        with pytest.raises((grants.ConsentError, UnknownScopeError), match=message):
            grants.change(
                grant,
                by=db.session.get(User, school_admin.id),
                scopes=[*grant.scopes, added],
                restrictions=grants.Restrictions(),
                expires_at=None,
            )


def test_a_newly_required_scope_comes_through_the_applications_request(
    app, client, school, change_page, connection, school_admin
) -> None:
    from authserver.domain import grants
    from authserver.domain.applications import scope_requests_from, update_application

    with app.app_context():
        application = db.session.get(Application, connection["application"].id)
        update_application(
            application,
            name=application.name,
            redirect_uris=application.redirect_uris,
            privacy_policy_url=application.privacy_policy_url,
            scopes=scope_requests_from(
                {"StudentLite": "Names.", "Attendance": "Registers.", "Conduct": "Points."},
                {"Contact": "To phone parents.", "DietaryNeeds": "Allergies."},
            ),
        )
        db.session.commit()
        grant = db.session.get(Grant, connection["grant_id"])
        with pytest.raises(grants.ConsentError, match="answer its request"):
            grants.change(
                grant,
                by=db.session.get(User, school_admin.id),
                scopes=[*grant.scopes, "Conduct"],
                restrictions=grants.Restrictions(),
                expires_at=None,
            )
    # The change page does not offer it; the request waits on the dashboard.
    assert 'id="scope-Conduct"' not in change_page.open().get_data(as_text=True)
    assert "Review the request from Register Radar" in client.get(
        f"/schools/{school.urn}"
    ).get_data(as_text=True)


def test_the_change_page_gives_the_reason_for_each_scope(change_page) -> None:
    html = change_page.open().get_data(as_text=True)
    dietary = html.split('id="scope-DietaryNeeds-about"')[1].split("</div>")[0]
    assert "Why they ask:</strong> Allergies." in dietary
    assert "Not shared now" in html.split('for="scope-DietaryNeeds"')[1].split("</label>")[0]


@pytest.mark.parametrize(
    "choices",
    [
        {"audience": "some", "group_ids": "abc"},
        {"audience": "nobody"},
        {"duration": "forever"},
        {"duration": "on_date", "end_date": "x" * 50},
        {"duration": "on_date", "end_date": "0000-00-00"},
        {"duration": "on_date", "end_date": "31/12/99999"},
        {"scopes": ["<script>"]},
    ],
)
@pytest.mark.parametrize("step", ["review", "confirm"])
def test_a_malformed_change_is_a_400_page_and_changes_nothing(
    app, client, change_page, connection, choices: dict, step: str
) -> None:
    page = change_page.open().get_data(as_text=True)
    data = submitted(page, change_page.path, **choices)
    response = client.post(change_page.path, data={**data, step: "1"})
    assert response.status_code == 400
    alert = response.get_data(as_text=True).split('id="change-error">')[1].split("</div>")[0]
    assert "<p>" in alert  # says what is wrong
    assert grant_now(app, connection["grant_id"]).version == 1
