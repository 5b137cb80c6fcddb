"""The end of a consent: any day up to three years ahead or the end of the academic year, and
the school and the vendor told 30 and 7 days before."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select, update

from authserver import webhooks
from authserver.domain import grants
from authserver.extensions import db
from authserver.models import Application, Grant, GrantReminder, School, User, WebhookDelivery
from authserver.models.columns import utcnow
from tests.oauth_flow import OAuthFlow, query_of, sign_in
from tests.webhook_deliveries import assert_matches_document

REDIRECT_URI = "https://app.example.com/callback"
DAY = dt.timedelta(days=1)


@pytest.fixture
def hooked_app(app, make_app):
    application, secret = make_app()
    with app.app_context():
        webhooks.set_webhook(
            db.session.get(Application, application.id), "https://hooks.example.com/events"
        )
        db.session.commit()
    return application, secret


def approve_until(app, application, school, admin, expires_at: dt.datetime) -> int:
    """The school approves the application's request with this end; the grant's id."""
    with app.app_context():
        target = db.session.get(Application, application.id)
        here = db.session.get(School, school.id)
        request, _ = grants.request_access(target, here, actor=target)
        grant = grants.approve(
            target,
            here,
            approver=db.session.get(User, admin.id),
            choice=grants.choice_for_request(request),
            request=request,
            expires_at=expires_at,
        )
        db.session.commit()
        return grant.id


def expiring_events(app) -> list[dict]:
    with app.app_context():
        return [
            json.loads(body)
            for body in db.session.scalars(
                select(WebhookDelivery.body)
                .where(WebhookDelivery.event_type == "connection.expiring")
                .order_by(WebhookDelivery.id)
            )
        ]


def test_the_job_tells_the_vendor_once_when_the_end_is_within_30_days(
    app, cli, client, hooked_app, school, school_admin
) -> None:
    application, _ = hooked_app
    ends = utcnow().replace(microsecond=0) + 20 * DAY
    approve_until(app, application, school, school_admin, ends)
    first = cli.invoke(args=["grants", "expire"])
    assert first.exit_code == 0
    assert "1 reminder(s) of an end date sent." in first.output
    (event,) = expiring_events(app)
    assert event["data"]["days_left"] == 20
    assert event["data"]["expires_at"].startswith(ends.date().isoformat())
    assert event["data"]["scopes"] == ["StudentLite", "Attendance"]
    assert_matches_document(client, event)
    again = cli.invoke(args=["grants", "expire"])
    assert "0 reminder(s)" in again.output
    assert len(expiring_events(app)) == 1


def test_the_seven_day_reminder_follows_once(app, hooked_app, school, school_admin) -> None:
    application, _ = hooked_app
    ends = utcnow() + 20 * DAY
    approve_until(app, application, school, school_admin, ends)
    with app.app_context():
        assert [r.days_before for r in grants.remind_due(now=ends - 20 * DAY)] == [30]
        assert grants.remind_due(now=ends - 8 * DAY) == []
        assert [r.days_before for r in grants.remind_due(now=ends - 6 * DAY)] == [7]
        assert grants.remind_due(now=ends - 2 * DAY) == []
        db.session.commit()
    assert [e["data"]["days_left"] for e in expiring_events(app)] == [20, 6]


def test_a_consent_first_seen_inside_seven_days_gets_one_reminder(
    app, hooked_app, school, school_admin
) -> None:
    application, _ = hooked_app
    approve_until(app, application, school, school_admin, utcnow() + 5 * DAY)
    with app.app_context():
        assert [r.days_before for r in grants.remind_due()] == [7]
        assert sorted(db.session.scalars(select(GrantReminder.days_before))) == [7, 30]
        assert grants.remind_due() == []
        db.session.commit()
    assert len(expiring_events(app)) == 1


def test_a_new_end_date_is_reminded_of_afresh(app, hooked_app, school, school_admin) -> None:
    application, _ = hooked_app
    grant_id = approve_until(app, application, school, school_admin, utcnow() + 20 * DAY)
    with app.app_context():
        assert len(grants.remind_due()) == 1
        db.session.execute(
            update(Grant).where(Grant.id == grant_id).values(expires_at=utcnow() + 25 * DAY)
        )
        assert len(grants.remind_due()) == 1
        db.session.commit()


def test_no_reminder_for_a_far_end_or_a_connection_no_longer_in_force(
    app, hooked_app, make_app, school, school_admin
) -> None:
    application, _ = hooked_app
    approve_until(app, application, school, school_admin, utcnow() + 40 * DAY)
    other, _ = make_app(name="Gone")
    gone = approve_until(app, other, school, school_admin, utcnow() + 3 * DAY)
    with app.app_context():
        grants.revoke(db.session.get(Grant, gone), by=db.session.get(User, school_admin.id))
        assert grants.remind_due() == []


def test_the_dashboard_shows_each_connection_ending_within_30_days(
    app, client, hooked_app, make_app, school, school_admin
) -> None:
    application, _ = hooked_app
    approve_until(app, application, school, school_admin, utcnow() + 10 * DAY)
    later, _ = make_app(name="Later App")
    approve_until(app, later, school, school_admin, utcnow() + 45 * DAY)
    sign_in(client, school_admin.email)
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    banner = html.split('id="ending-soon"')[1].split("</section>")[0]
    assert "Register Radar" in banner
    assert "days left" in banner
    assert "Change the end date of Register Radar" in banner
    assert "Later App" not in banner


def test_no_banner_when_nothing_ends_soon(client, school, school_admin) -> None:
    sign_in(client, school_admin.email)
    assert 'id="ending-soon"' not in client.get(f"/schools/{school.urn}").get_data(as_text=True)


# --- The consent screen offers any date too -----------------------------------------------


@pytest.fixture
def flow(client, make_app, school_admin) -> OAuthFlow:
    application, secret = make_app()
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return flow


def test_the_consent_screen_takes_any_end_date(app, flow) -> None:
    day = utcnow().date() + 400 * DAY
    html = flow.start().get_data(as_text=True)
    assert "Until a date we choose" in html
    assert 'type="date" name="end_date"' in html
    params = query_of(flow.decide(extra={"duration": "on_date", "end_date": day.isoformat()}))
    assert "code" in params
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        assert grant.expires_at == dt.datetime.combine(day + DAY, dt.time(), tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("end_date", "message"),
    [
        ("31/02/2027", "Enter the end date as a date"),
        ("", "Enter the date the sharing should end"),
        ("2020-09-01", "The end date is in the past"),
        ("2999-01-01", "The end date can be at most 3 years ahead"),
    ],
)
def test_an_unusable_end_date_on_the_consent_screen_is_a_readable_page(
    app, flow, end_date: str, message: str
) -> None:
    flow.start()
    response = flow.decide(extra={"duration": "on_date", "end_date": end_date})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert 'id="end-date-error"' in html
    with app.app_context():
        assert db.session.scalar(select(Grant)) is None


def test_a_later_visit_to_the_consent_screen_shows_the_chosen_date(app, flow) -> None:
    day = utcnow().date() + 100 * DAY
    flow.start()
    query_of(flow.decide(extra={"duration": "on_date", "end_date": day.isoformat()}))
    with app.app_context():
        application = db.session.scalar(select(Application))
        application_id = application.id
    # The vendor asks for more; the screen starts from the date the school chose.
    from authserver.domain.applications import scope_requests_from, update_application

    with app.app_context():
        update_application(
            db.session.get(Application, application_id),
            name=application.name,
            redirect_uris=application.redirect_uris,
            privacy_policy_url=application.privacy_policy_url,
            scopes=scope_requests_from(
                {"StudentLite": "Names.", "Attendance": "Registers."},
                {
                    "Contact": "To phone parents.",
                    "DietaryNeeds": "Allergies.",
                    "Conduct": "Behaviour points.",
                },
            ),
        )
        db.session.commit()
    html = flow.start().get_data(as_text=True)
    assert f'value="{day.isoformat()}"' in html
    assert re.search(r'id="duration-on_date"\s+checked', html)
