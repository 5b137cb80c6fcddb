"""A connection's use, detail by detail, and the summarised history, in a browser: reachable
from the dashboard, with no WCAG 2.2 AA violation axe-core can find."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import sign_in_with_keyboard
from tests.consent.connections import Connection
from tests.oauth_flow import PASSWORD


def test_a_connections_use_and_the_history_of_its_reads(
    page: Page, live_server: str, app, make_app, school, school_admin, check_accessibility
) -> None:
    maths_app = Connection(
        app,
        app.test_client(),
        make_app,
        school,
        school_admin,
        required={"StudentLite": "Names on the register."},
        optional={"Contact": "To phone parents."},
    )
    maths_app.read("students", limit=10)
    maths_app.read("students", limit=10)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, school_admin.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)

    page.goto(f"{live_server}/schools/{school.urn}")
    page.click("text=See what Maths App read, detail by detail")
    assert page.url.endswith(f"/connections/{maths_app.grant_id}/use")
    check_accessibility(page, "dashboard-connection-use")
    never = page.locator("section", has=page.locator("#never-heading")).inner_text()
    assert "Parents and contacts: Email" in never
    page.click("text=you can leave these out in the connection's settings")
    assert page.url.endswith(f"/schools/{school.urn}#grant-{maths_app.grant_id}")

    page.click("text=History")
    check_accessibility(page, "dashboard-history-summarised")
    summary = page.locator("tr.read-summary").inner_text()
    assert "Maths App read pupils: 2 requests, 0 records" in summary
    assert "data:read" not in page.content()

    page.goto(f"{live_server}/schools/{school.urn}/history?since=9999-12-31")
    check_accessibility(page, "dashboard-history-bad-filter")
    assert "That history filter cannot be used" in page.content()
    page.click(f"text=Show all of {school.name}'s history")
    assert page.locator("tr.read-summary").count() == 1
