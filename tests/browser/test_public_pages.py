"""The public pages in a browser: axe-clean, and usable with the keyboard alone."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import focused, press_tab_onto, sign_in_with_keyboard, tab_to
from tests.oauth_flow import PASSWORD

PUBLIC_PAGES = [("/", "home"), ("/scopes", "scopes"), ("/sign-in", "sign-in")]


@pytest.mark.parametrize(("path", "name"), PUBLIC_PAGES)
def test_the_page_is_accessible_and_its_skip_link_comes_first(
    page: Page, live_server: str, check_accessibility, path: str, name: str
) -> None:
    page.goto(live_server + path)
    check_accessibility(page, name)

    page.keyboard.press("Tab")
    assert focused(page, "a.skip-link"), "the skip link is not the first thing Tab reaches"
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None
    assert box["x"] >= 0, "the focused skip link is off-screen"
    page.keyboard.press("Enter")
    assert focused(page, "main#main"), "the skip link does not move focus to the main content"
    # The next Tab continues from the main content, past the header's links.
    page.keyboard.press("Tab")
    assert not page.evaluate(
        "() => document.querySelector('header').contains(document.activeElement)"
    ), "Tab after the skip link went back into the header"


def test_the_home_page_leads_to_the_scope_catalogue_by_keyboard(
    page: Page, live_server: str, check_accessibility
) -> None:
    page.goto(live_server + "/")
    check_accessibility(page, "home")
    tab_to(page, "main a[href='/scopes']")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/scopes")
    check_accessibility(page, "scopes")


def test_the_scope_catalogue_is_browsable_by_keyboard(
    page: Page, live_server: str, check_accessibility
) -> None:
    """Jump to a category from its contents list, then open a scope's list of fields."""
    page.goto(live_server + "/scopes")
    check_accessibility(page, "scopes")
    target = page.get_by_role("link", name="Students", exact=True).get_attribute("href")
    assert target is not None
    assert target.startswith("#category-")

    tab_to(page, f"nav[aria-label=Categories] a[href='{target}']")
    page.keyboard.press("Enter")
    assert urlsplit(page.url).fragment == target[1:]
    section = f"section[aria-labelledby='{target[1:]}']"
    # Tab carries on from the category's heading: the first scope's list of fields.
    press_tab_onto(page, f"{section} summary")
    page.keyboard.press("Space")
    details = page.locator(f"{section} details").first
    expect(details).to_have_attribute("open", "")
    expect(details.locator(".field-list")).to_be_visible()
    check_accessibility(page, "scopes-fields-open")


def test_signing_in_with_the_keyboard_alone(
    page: Page, live_server: str, check_accessibility, school_admin
) -> None:
    page.goto(live_server + "/sign-in")
    check_accessibility(page, "sign-in")
    sign_in_with_keyboard(page, school_admin.email, PASSWORD)
    # Signed in, the admin lands wherever the server sends them first (not the sign-in page).
    page.wait_for_url(lambda url: urlsplit(url).path != "/sign-in")
    assert any(cookie["name"] == "session" for cookie in page.context.cookies())
    check_accessibility(page, "signed-in")


def test_a_wrong_password_shows_the_error(
    page: Page, live_server: str, check_accessibility, school_admin
) -> None:
    page.goto(live_server + "/sign-in")
    check_accessibility(page, "sign-in")
    sign_in_with_keyboard(page, school_admin.email, "not the password")

    alert = page.get_by_role("alert")
    expect(alert).to_have_text("That email address and password do not match an account.")
    email = page.locator("input[name=email]")
    expect(email).to_have_value(school_admin.email)
    expect(email).to_have_attribute("aria-describedby", "sign-in-error")
    expect(page.locator("input[name=password]")).to_have_value("")
    check_accessibility(page, "sign-in-error")
