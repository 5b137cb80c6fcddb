"""The MIS data page in a browser, with the keyboard and axe: register a connector, see the
secret once, see a failed sync explained, pause and resume."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import tab_to
from tests.browser.test_school_pages import sign_in
from tests.connector.conftest import Agent, pupil


def test_a_school_admin_registers_a_connector_and_reads_its_sync_by_keyboard(
    app, page: Page, live_server: str, school_admin, school, client, check_accessibility
) -> None:
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}/data")
    check_accessibility(page, "MIS data, no data yet")
    tab_to(page, "#name")
    page.keyboard.press("Control+A")
    page.keyboard.type("SIMS agent")
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")
    check_accessibility(page, "connector secret")
    client_id = page.input_value("#client-id")
    assert page.input_value("#client-secret")
    page.click("text=I have copied it")

    agent = Agent(app, client, school.id)
    agent.changes({"student": {"upsert": [pupil(1)]}})
    agent.changes({"student": {"upsert": [{**pupil(2), "upn": "nope"}]}})
    page.goto(f"{live_server}/schools/{school.urn}/data")
    assert "Sync now: failing" in page.inner_text("#health-heading")
    assert client_id in page.content()
    check_accessibility(page, "MIS data, failing")
    tab_to(page, "#reason")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Resume sync")
    check_accessibility(page, "MIS data, paused")


def test_a_school_admin_imports_the_sample_ctf_in_the_browser(
    page: Page, live_server: str, school_admin, school, check_accessibility
) -> None:
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "samples" / "ctf-year7-cohort.xml"
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}/data/import")
    check_accessibility(page, "import upload")
    page.set_input_files("#file", str(sample))
    tab_to(page, "form[enctype] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#preview-heading")
    check_accessibility(page, "import preview")
    assert "Pupils" in page.inner_text("table")
    page.click("text=Apply these changes")
    page.wait_for_selector("#done-heading")
    check_accessibility(page, "import done")
