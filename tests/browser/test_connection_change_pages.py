"""The change of a connection in a browser, with the keyboard and axe: choose, check, confirm."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from authserver.domain import grants
from authserver.extensions import db
from authserver.models import Application, Grant, School, User
from authserver.models.columns import utcnow
from tests.browser.conftest import sign_in_with_keyboard, tab_to
from tests.oauth_flow import PASSWORD


@pytest.fixture
def connected(app, make_app, school, school_admin) -> Application:
    """Register Radar approved by the school with Contact ticked, as its dashboard would."""
    application, _ = make_app()
    with app.app_context():
        target = db.session.get(Application, application.id)
        here = db.session.get(School, school.id)
        request, _ = grants.request_access(target, here, actor=target)
        grants.approve(
            target,
            here,
            approver=db.session.get(User, school_admin.id),
            choice=grants.choice_for_request(request),
            optional_scopes=["Contact"],
            request=request,
        )
        db.session.commit()
    return application


def test_a_school_admin_changes_a_connection_with_the_keyboard(
    page: Page, live_server: str, app, school, school_admin, connected, check_accessibility
) -> None:
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, school_admin.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(f"{live_server}/schools/{school.urn}")
    page.click("text=Change what Register Radar can see")
    check_accessibility(page, "change-connection")

    # Untick an optional scope and choose an end date, all from the keyboard.
    tab_to(page, "#scope-Contact")
    page.keyboard.press("Space")
    tab_to(page, "#duration-until_withdrawn")  # a radio group is one stop; arrows choose
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#duration-on_date")
    assert not page.is_checked("#scope-Contact")
    page.click("button[name=review]")  # a date chosen, but none given
    check_accessibility(page, "change-connection-error")
    assert "Enter the date the sharing should end" in page.inner_text("#end-date-error")
    assert page.get_attribute("#end-date", "aria-invalid") == "true"
    last_day = utcnow().date() + dt.timedelta(days=10)
    page.fill("#end-date", last_day.isoformat())
    page.click("button[name=review]")
    check_accessibility(page, "change-connection-check")
    assert "No longer shares: Contact" in page.inner_text("main")
    page.click("button[name=confirm]")
    page.wait_for_url(lambda url: "/change" not in url)
    check_accessibility(page, "dashboard-after-change")
    assert "now has version 2" in page.content()
    # Ending within 30 days: the dashboard says so at the top.
    assert "10 days left" in page.inner_text("#ending-soon")
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        assert grant.scopes == ["StudentLite", "Attendance"]
        assert grant.expires_at.date() == last_day + dt.timedelta(days=1)

    # Withdrawing a required scope says it ends the connection before it does.
    page.click("text=Change what Register Radar can see")
    page.uncheck("#scope-Attendance")
    page.click("button[name=review]")
    check_accessibility(page, "change-connection-ends")
    assert "This ends the connection" in page.inner_text("#ends-warning")
    page.click("button[name=back]")
    assert page.is_checked("#scope-Attendance") is False
    page.click("text=Cancel")
    with app.app_context():
        assert db.session.scalar(select(Grant)).status == "active"
