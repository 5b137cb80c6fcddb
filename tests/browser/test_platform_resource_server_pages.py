"""A platform admin manages resource servers, and a vendor ticks the ones its application
calls, with the keyboard only and axe on every page."""

from __future__ import annotations

from playwright.sync_api import Page

from authserver.models import Role
from tests.browser.conftest import sign_in_with_keyboard, tab_to
from tests.oauth_flow import PASSWORD


def test_a_platform_admin_registers_rotates_and_removes_with_the_keyboard(
    page: Page, live_server: str, make_user, check_accessibility
) -> None:
    operator = make_user(Role.PLATFORM_ADMIN)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, operator.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(f"{live_server}/platform")
    tab_to(page, "a[href='/platform/resource-servers']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/platform/resource-servers")
    check_accessibility(page, "resource-servers-empty")

    # Nothing filled in: the errors are summarised and announced.
    tab_to(page, "form.vendor-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error-summary")
    check_accessibility(page, "resource-servers-errors")

    tab_to(page, "#name")
    page.keyboard.type("Homework API")
    tab_to(page, "#url")
    page.keyboard.type("https://homework.example.net/api")
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")
    check_accessibility(page, "resource-server-secret")
    assert "It will not be shown again." in page.content()
    secret = page.input_value("#client-secret")
    assert len(secret) >= 43

    tab_to(page, "a.button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/platform/resource-servers")
    check_accessibility(page, "resource-servers")
    assert "https://homework.example.net/api" in page.content()
    assert secret not in page.content()

    tab_to(page, "a[href$='/rotate']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/rotate")
    check_accessibility(page, "resource-server-rotate")
    tab_to(page, "input[name=overlap_minutes]")
    page.keyboard.press("ArrowDown")  # "Stop the old secret now"
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")
    assert "The previous secret has stopped working." in page.content()
    assert page.input_value("#client-secret") != secret
    check_accessibility(page, "resource-server-rotated")

    page.goto(f"{live_server}/platform/resource-servers")
    tab_to(page, "a[href$='/remove']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/remove")
    check_accessibility(page, "resource-server-remove")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/platform/resource-servers")
    assert "is removed" in page.content()
    assert "https://homework.example.net/api" not in page.content()
    check_accessibility(page, "resource-server-removed")


def test_a_vendor_ticks_a_resource_server_with_the_keyboard(
    page: Page, live_server: str, vendor, make_user, make_resource_server, check_accessibility
) -> None:
    server, _ = make_resource_server(name="Homework API", url="https://homework.example.net/api")
    developer = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, developer.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(f"{live_server}/vendor/applications/new")
    check_accessibility(page, "vendor-register-resource-servers")

    page.fill("#name", "Homework Hub")
    page.fill("#redirect_uris", "https://homework.example.com/callback")
    page.fill("#privacy_policy_url", "https://homework.example.com/privacy")
    page.select_option("#scope_StudentLite", "required")
    page.fill("#purpose_StudentLite", "To set homework for each pupil by name.")
    box = f"input[name=resource_servers][value='{server.client_id}']"
    page.focus("#website_url")
    tab_to(page, box)
    page.keyboard.press("Space")
    assert page.is_checked(box)
    tab_to(page, "form.vendor-form button[type=submit]", limit=200)
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")

    page.goto(f"{live_server}/vendor")
    page.click("text=Change the registration of Homework Hub")
    assert page.is_checked(box)
    check_accessibility(page, "vendor-edit-resource-servers")
