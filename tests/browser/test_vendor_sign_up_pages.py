"""A vendor signs up and a platform admin verifies it, then withdraws the verification, in a
browser, with the keyboard alone; every page is axe-clean."""

from __future__ import annotations

from playwright.sync_api import Page

from authserver.models import Role
from tests.browser.conftest import focused, sign_in_with_keyboard, tab_to
from tests.oauth_flow import PASSWORD

SUBMIT = "form.vendor-form input[type=submit]"


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def test_a_vendor_signs_up_with_the_keyboard(
    page: Page, live_server: str, check_accessibility
) -> None:
    page.goto(f"{live_server}/sign-in")
    tab_to(page, "a[href='/vendors/sign-up']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/vendors/sign-up")
    check_accessibility(page, "vendor-sign-up")

    tab_to(page, SUBMIT)  # nothing filled in: every problem is listed and linked
    page.keyboard.press("Enter")
    page.wait_for_selector(".error-summary")
    check_accessibility(page, "vendor-sign-up-errors")
    tab_to(page, ".error-summary a[href='#company_number']")
    page.keyboard.press("Enter")
    assert focused(page, "#company_number")

    page.goto(f"{live_server}/vendors/sign-up")
    type_into(page, "#name", "Keyboard Apps Ltd")
    type_into(page, "#company_number", "SC123456")
    type_into(page, "#ico_registration_number", "ZB123456")
    type_into(page, "#data_protection_contact_name", "Kim Key")
    type_into(page, "#data_protection_contact_email", "dpo@keyboard.example.com")
    tab_to(page, "#data_location-0")
    page.keyboard.press("Space")
    tab_to(page, "input[name=uses_generative_ai]")
    page.keyboard.press("Space")
    assert page.is_checked("#uses_generative_ai-0")  # "No"
    type_into(page, "#admin_name", "Kim Key")
    type_into(page, "#admin_email", "kim@keyboard.example.com")
    type_into(page, "#password", "amber kettle lighthouse orbit")
    page.keyboard.press("Enter")
    page.wait_for_url("**/vendors/sign-up/done")
    check_accessibility(page, "vendor-signed-up")
    assert "A platform admin checks your company number" in page.content()
    assert "kim@keyboard.example.com" not in page.locator("header").inner_text()
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, "kim@keyboard.example.com", "amber kettle lighthouse orbit")
    assert page.get_by_role("heading", level=1).inner_text() == "Set up two-step sign-in"


def test_a_platform_admin_verifies_and_withdraws_with_the_keyboard(
    page: Page, live_server: str, check_accessibility, make_user, unverified_vendor
) -> None:
    admin = make_user(Role.PLATFORM_ADMIN)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, admin.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto(f"{live_server}/platform/vendors")
    check_accessibility(page, "platform-vendors")
    assert "ZA123456" in page.content()

    tab_to(page, f"form[action$='/{unverified_vendor.id}/verify'] button")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=is verified")
    check_accessibility(page, "platform-vendors-verified")

    tab_to(page, f"#vendor-{unverified_vendor.id} summary")
    page.keyboard.press("Enter")
    tab_to(page, "textarea")  # an empty reason is refused, beside the box
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".error-message")
    check_accessibility(page, "platform-vendors-withdraw-error")
    tab_to(page, "textarea")
    page.keyboard.type("Its ICO registration has lapsed.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=verification is withdrawn")
    check_accessibility(page, "platform-vendors-withdrawn")
    waiting = page.locator("section[aria-labelledby=awaiting-heading]").inner_text()
    assert "Fresh Start Apps Ltd" in waiting
    assert "Its ICO registration has lapsed." in waiting
