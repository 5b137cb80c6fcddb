"""The school's public privacy page in a browser: axe-clean, and usable with the keyboard
alone, from the skip link to each application's part and its vendor's policies."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import focused, press_tab_onto, tab_to
from tests.consent.test_privacy_page import approve


def test_a_family_reads_the_page_by_keyboard(
    app, page: Page, live_server: str, check_accessibility, make_app, school, school_admin
) -> None:
    lunch, _ = make_app(
        name="Lunch Queue",
        required={"StudentLite": "To know who is in the queue."},
        optional={"DietaryNeeds": "To warn the kitchen of allergies."},
        website_url="https://lunch.example.com",
    )
    reading, _ = make_app(
        name="Reading Club", required={"openid": "So that pupils sign in."}, optional={}
    )
    approve(app, lunch, school, school_admin)
    approve(app, reading, school, school_admin)

    page.goto(f"{live_server}/schools/{school.urn}/privacy")
    check_accessibility(page, "privacy-page")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Apps that receive data from {school.name}"
    )
    # Sensitive data is said in words: the row's header reads "Students Sensitive".
    sensitive = page.get_by_role("row").filter(has_text="allergies")
    expect(sensitive.get_by_role("rowheader")).to_have_text("Students Sensitive")

    page.keyboard.press("Tab")
    assert focused(page, "a.skip-link"), "the skip link is not the first thing Tab reaches"
    page.keyboard.press("Enter")
    assert focused(page, "main#main")

    # The contents list leads to each application's part; Tab carries on inside it.
    tab_to(page, "nav[aria-label=Applications] a[href='#app-2']")
    page.keyboard.press("Enter")
    assert urlsplit(page.url).fragment == "app-2"
    press_tab_onto(page, "section[aria-labelledby=app-2] a[href='https://app.example.com/privacy']")
    expect(page.locator("section[aria-labelledby=app-2] h2")).to_have_text("Reading Club")
    expect(page.locator("section[aria-labelledby=app-2]")).to_contain_text("Signs people in")


def test_an_unknown_school_s_page_is_readable(
    page: Page, live_server: str, check_accessibility
) -> None:
    response = page.goto(f"{live_server}/schools/999999999/privacy")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not Found")
    expect(page.locator("main")).to_contain_text("No school with that URN uses School Data Access")
    check_accessibility(page, "privacy-page-unknown-school")
