"""People in a browser, by keyboard only and axe-checked: an admin invites a colleague from the
People page, the colleague accepts and is signed in, and a forgotten password is reset."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import OutboxMessage
from tests.browser.conftest import press_tab_onto, tab_to, type_code
from tests.browser.test_school_pages import sign_in

NEW_PASSWORD = "plum kettle orbit seventeen"


def emailed_link(app, to: str) -> str:
    """The path of the link in the latest email to `to`."""
    with app.app_context():
        body = db.session.scalars(
            select(OutboxMessage.text_body)
            .where(OutboxMessage.to_address == to)
            .order_by(OutboxMessage.id.desc())
        ).first()
    return re.search(r"https?://[^/\s]+(/\S+)", body).group(1)


def test_inviting_and_accepting_with_the_keyboard(
    app, page: Page, live_server: str, school_admin, school, check_accessibility
) -> None:
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}/people")
    check_accessibility(page, "people-page")
    tab_to(page, "input[name=email]")
    page.keyboard.type("sam@school.example.org")
    press_tab_onto(page, "input[name=can_manage]")
    page.keyboard.press("Space")
    tab_to(page, "#send-invitation")
    page.keyboard.press("Enter")
    page.get_by_text("Invitation sent to sam@school.example.org").wait_for()
    check_accessibility(page, "people-page-invited")

    newcomer = page.context.browser.new_context(locale="en-GB").new_page()
    newcomer.goto(live_server + emailed_link(app, "sam@school.example.org"))
    check_accessibility(newcomer, "invitation-accept")
    tab_to(newcomer, "input[name=name]")
    newcomer.keyboard.type("Sam Teacher")
    tab_to(newcomer, "input[name=password]")
    newcomer.keyboard.type(NEW_PASSWORD)
    press_tab_onto(newcomer, "input[name=confirm]")
    newcomer.keyboard.type(NEW_PASSWORD)
    newcomer.keyboard.press("Enter")
    newcomer.wait_for_url(lambda url: "/invitations/" not in url)
    # Signed in; as one who may manage, the authenticator is set up before anything else.
    assert newcomer.get_by_role("heading", level=1).inner_text() == "Set up two-step sign-in"
    newcomer.context.close()


def test_a_refused_invitation_form_explains_itself(
    page: Page, live_server: str, school_admin, school, check_accessibility
) -> None:
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}/people")
    tab_to(page, "input[name=email]")
    page.keyboard.type("not an address")
    tab_to(page, "#send-invitation")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="There is a problem").wait_for()
    check_accessibility(page, "people-page-error")


def test_resetting_a_forgotten_password_with_the_keyboard(
    app, page: Page, live_server: str, school_admin, check_accessibility
) -> None:
    page.goto(f"{live_server}/sign-in")
    tab_to(page, "#forgot-password")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/forgot-password"))
    check_accessibility(page, "forgot-password")
    tab_to(page, "input[name=email]")
    page.keyboard.type(school_admin.email)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()
    check_accessibility(page, "forgot-password-sent")

    page.goto(live_server + emailed_link(app, school_admin.email))
    check_accessibility(page, "reset-password")
    tab_to(page, "input[name=password]")
    page.keyboard.type(NEW_PASSWORD)
    press_tab_onto(page, "input[name=confirm]")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/sign-in"))
    tab_to(page, "input[name=email]")
    page.keyboard.type(school_admin.email)
    press_tab_onto(page, "input[name=password]")
    page.keyboard.type(NEW_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # The new password leads on to the authenticator's code: a reset never skips it.
    assert urlsplit(page.url).path == "/sign-in/code"
    type_code(page, school_admin.email)
    page.wait_for_url(lambda url: "/sign-in" not in url)
