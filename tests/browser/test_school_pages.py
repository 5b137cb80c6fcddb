"""The school's side in a browser: consent with a year-group restriction, then the dashboard."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page

from authserver.extensions import db
from authserver.models import Role
from tests.browser.conftest import loopback_redirect_uri, sign_in_with_keyboard
from tests.oauth_flow import PASSWORD


def sign_in(page: Page, live_server: str, email: str) -> None:
    """Sign in with the keyboard and wait until the browser has left the sign-in page."""
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)


@pytest.fixture
def year_seven(app, school) -> int:
    from authserver.models.mis.structure import Group

    with app.app_context():
        groups = [
            Group(school_id=school.id, type="year", name=f"Year {n}", nc_year=str(n))
            for n in (7, 8, 9)
        ]
        db.session.add_all(groups)
        db.session.commit()
        return groups[0].id


def test_consent_with_a_restriction_then_the_dashboard_shows_the_grant(
    page: Page,
    live_server: str,
    make_app,
    school_admin,
    school,
    year_seven,
    resource_server,
    authorize_in_browser,
    check_accessibility,
) -> None:
    application, secret = make_app(redirect_uris=[loopback_redirect_uri()])

    def decide(page: Page) -> None:
        page.check("input[name=optional_scopes][value=Contact]")
        page.check("#audience-some")
        page.check(f"#group-{year_seven}")
        page.click("input[type=submit][name=approve]")

    result = authorize_in_browser(
        page,
        live_server,
        application,
        secret,
        email=school_admin.email,
        decide=decide,
        name="restricted",
    )
    token = result["token"]
    assert set(token["scope"].split()) == {"StudentLite", "Attendance", "Contact"}

    page.goto(f"{live_server}/schools/{school.urn}")
    check_accessibility(page, "dashboard-school")
    connection = page.locator("article.connection", has_text=application.name)
    assert "Only Year 7" in connection.inner_text()
    assert "Contact" in connection.inner_text()
    assert school_admin.email in connection.inner_text()

    page.click("text=What leaves the school")
    check_accessibility(page, "dashboard-exposure")
    page.click("text=History")
    check_accessibility(page, "dashboard-history")
    assert "grant:approved" in page.content()

    page.click("text=Connected applications")
    page.click(f"text=Withdraw {application.name}'s access now")
    check_accessibility(page, "dashboard-after-revoke")
    assert "can no longer read" in page.content()
    server, server_secret = resource_server
    info = requests.post(
        f"{live_server}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(server.client_id, server_secret),
        timeout=5,
    ).json()
    assert info == {"active": False}


def test_a_pending_request_is_reviewed_on_the_consent_screen(
    page: Page,
    live_server: str,
    app,
    make_app,
    school_admin,
    school,
    check_accessibility,
) -> None:
    from authserver.domain import grants
    from authserver.models import Application, School

    application, _ = make_app(name="Lunchbox", optional={"StudentMedical": "Medical alerts."})
    with app.app_context():
        grants.request_access(
            db.session.get(Application, application.id),
            db.session.get(School, school.id),
            actor="application test",
        )
        db.session.commit()
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}")
    page.click("text=Review the request from Lunchbox")
    check_accessibility(page, "dashboard-review-request")
    page.click("input[type=submit][name=approve]")
    check_accessibility(page, "dashboard-after-approval")
    assert "Lunchbox can now read what you approved" in page.content()


def test_a_trust_admins_summary_and_the_error_pages(
    page: Page,
    live_server: str,
    app,
    make_school,
    make_user,
    check_accessibility,
) -> None:
    from authserver.models import Trust

    with app.app_context():
        trust = Trust(name="Browser Trust")
        db.session.add(trust)
        db.session.commit()
        trust_id = trust.id
    make_school(name="First Academy", trust_id=trust_id)
    make_school(name="Second Primary", trust_id=trust_id, phase="primary")
    admin = make_user(Role.TRUST_ADMIN, trust=trust, can_approve=True)
    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}/schools")
    check_accessibility(page, "trust-summary")
    assert "All schools" in page.content()
    page.goto(f"{live_server}/no-such-page")
    check_accessibility(page, "error-not-found")


def test_the_platform_overview(
    page: Page, live_server: str, make_user, check_accessibility
) -> None:
    operator = make_user(Role.PLATFORM_ADMIN)
    sign_in(page, live_server, operator.email)
    page.goto(f"{live_server}/platform")
    check_accessibility(page, "platform-overview")


def test_the_account_page_by_keyboard(
    page: Page, live_server: str, school_admin, check_accessibility
) -> None:
    from tests.browser.conftest import tab_to

    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/account")
    check_accessibility(page, "account")
    tab_to(page, "#current")
    page.keyboard.type("not it")
    page.keyboard.press("Tab")
    page.keyboard.type("violet lantern orbit 42")
    page.keyboard.press("Tab")
    page.keyboard.type("violet lantern orbit 42")
    page.keyboard.press("Enter")
    page.wait_for_selector("#current-error")
    check_accessibility(page, "account with an error")
