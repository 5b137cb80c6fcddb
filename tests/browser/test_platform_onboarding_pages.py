"""The platform admin's register pages in a browser, with the keyboard alone: find a school in
the DfE register, open it, onboard it; onboard a trust; a school added without the register
shows its problems in a summary first. axe-clean throughout."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from authserver.domain import establishments as register
from authserver.extensions import db
from authserver.models import Role
from tests.browser.conftest import focused, sign_in_with_keyboard, tab_to
from tests.oauth_flow import PASSWORD
from tests.register_files import SAMPLE


@pytest.fixture
def platform_admin(app, make_user):
    with app.app_context():
        register.import_register(register.read_register(SAMPLE.read_bytes()), actor="test")
        db.session.commit()
    return make_user(Role.PLATFORM_ADMIN)


def sign_in(page: Page, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_finding_and_onboarding_a_school_with_the_keyboard(
    page: Page, live_server: str, platform_admin, check_accessibility
) -> None:
    sign_in(page, live_server, platform_admin.email)
    assert urlsplit(page.url).path == "/platform"
    check_accessibility(page, "platform-overview")

    tab_to(page, "main a[href='/platform/establishments']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/platform/establishments")
    check_accessibility(page, "platform-search")

    tab_to(page, "input[name=q]")
    page.keyboard.type("riverside")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "q=riverside" in url)
    expect(page.get_by_role("heading", level=2)).to_have_text("1 establishment matches “riverside”")
    check_accessibility(page, "platform-search-results")

    tab_to(page, "table a[href='/platform/establishments/140101']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/platform/establishments/140101")
    check_accessibility(page, "platform-establishment")

    tab_to(page, "form[action$='/onboard'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/platform/schools/140101")
    expect(page.get_by_role("status")).to_have_text(
        "Riverside Community Primary School is now on the platform."
    )
    expect(page.locator("#first-admin h2")).to_have_text("The school's first admin")
    check_accessibility(page, "platform-onboarded-school")


def test_onboarding_a_trust_with_the_keyboard(
    page: Page, live_server: str, platform_admin, check_accessibility
) -> None:
    sign_in(page, live_server, platform_admin.email)
    page.goto(f"{live_server}/platform/establishments/140201")
    tab_to(page, "main a[href='/platform/trusts/9002']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/platform/trusts/9002")
    check_accessibility(page, "platform-trust")
    tab_to(page, "form[action$='/onboard'] button")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("4 schools added")
    check_accessibility(page, "platform-trust-onboarded")


def test_adding_a_school_outside_the_register_shows_its_problems_first(
    page: Page, live_server: str, platform_admin, check_accessibility
) -> None:
    sign_in(page, live_server, platform_admin.email)
    page.goto(f"{live_server}/platform/schools/new")
    check_accessibility(page, "platform-new-school")
    tab_to(page, "input[name=urn]")
    page.keyboard.type("170001")
    page.keyboard.press("Tab")
    page.keyboard.type("Brand New Academy")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Choose the school's phase.")
    expect(summary).to_contain_text("Say why this school is added without the DfE register.")
    check_accessibility(page, "platform-new-school-errors")

    tab_to(page, "input[name=phase][value=primary]")
    page.keyboard.press("Space")
    assert focused(page, "input[name=phase][value=primary]:checked")
    tab_to(page, "textarea[name=reason]")
    page.keyboard.type("Opened this September; the register does not list it yet.")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/platform/schools/170001")
    expect(page.locator("p.lead")).to_contain_text("Not in the DfE register")
    check_accessibility(page, "platform-school-outside-register")
