"""A vendor registers an application, sees its secret once and manages it, in a browser."""

from __future__ import annotations

from playwright.sync_api import Page

from authserver.models import Role
from tests.browser.conftest import sign_in_with_keyboard
from tests.oauth_flow import PASSWORD


def test_a_vendor_registers_and_manages_an_application(
    page: Page, live_server: str, vendor, make_user, school, check_accessibility
) -> None:
    developer = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, developer.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(f"{live_server}/vendor")
    check_accessibility(page, "vendor-applications-empty")

    page.click("text=Register an application")
    check_accessibility(page, "vendor-register")
    page.click("form.vendor-form button[type=submit]")  # nothing filled in: errors, announced
    check_accessibility(page, "vendor-register-errors")
    assert page.locator("[role=alert]").count() >= 1

    page.fill("#name", "Homework Hub")
    page.fill("#redirect_uris", "https://homework.example.com/callback")
    page.fill("#privacy_policy_url", "https://homework.example.com/privacy")
    page.select_option("#scope_StudentLite", "required")
    page.fill("#purpose_StudentLite", "To set homework for each pupil by name.")
    page.click("form.vendor-form button[type=submit]")
    check_accessibility(page, "vendor-credentials")
    assert "It will not be shown again." in page.content()
    secret = page.input_value("#client-secret")
    assert len(secret) >= 43

    page.goto(f"{live_server}/vendor")
    check_accessibility(page, "vendor-applications")
    assert secret not in page.content()
    page.get_by_label("URN").fill(school.urn)
    page.click("text=Ask a school for access to Homework Hub")
    check_accessibility(page, "vendor-access-requested")

    page.click("text=Change the registration of Homework Hub")
    check_accessibility(page, "vendor-edit")
    page.goto(f"{live_server}/vendor")
    page.click("text=Issue a new client secret for Homework Hub")
    check_accessibility(page, "vendor-rotate-confirm")
