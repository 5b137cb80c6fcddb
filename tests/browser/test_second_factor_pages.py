"""Two-step sign-in in a browser, by keyboard alone and axe-checked: setting up the
authenticator, the code after the password, and the code asked again before approving
special-category data."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import Role
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.sessions import UserSession
from tests.authenticator import code_for
from tests.browser.conftest import loopback_redirect_uri, press_tab_onto, tab_to
from tests.oauth_flow import PASSWORD


def type_password(page: Page, email: str) -> None:
    tab_to(page, "input[name=email]")
    page.keyboard.type(email)
    press_tab_onto(page, "input[name=password]")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_setting_up_the_authenticator_by_keyboard(
    page: Page, live_server: str, make_user, school, check_accessibility
) -> None:
    person = make_user(Role.SCHOOL_ADMIN, school=school, enrolled=False)
    page.goto(f"{live_server}/sign-in")
    type_password(page, person.email)
    assert urlsplit(page.url).path == "/second-factor/set-up"
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-step sign-in")
    expect(page.get_by_role("img", name="QR code to add")).to_be_visible()
    check_accessibility(page, "second-factor-set-up")

    tab_to(page, "input[name=code]")
    page.keyboard.type("000000")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#error-summary")).to_be_visible()
    check_accessibility(page, "second-factor-set-up-error")

    secret = page.locator("#setup-key").inner_text().replace(" ", "")
    page.fill("input[name=code]", "")
    tab_to(page, "input[name=code]")
    page.keyboard.type(pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    check_accessibility(page, "second-factor-recovery-codes")
    tab_to(page, "a.button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert not urlsplit(page.url).path.startswith(("/second-factor", "/sign-in"))


def test_signing_in_with_the_code_by_keyboard(
    page: Page, live_server: str, school_admin, check_accessibility
) -> None:
    page.goto(f"{live_server}/sign-in")
    type_password(page, school_admin.email)
    assert urlsplit(page.url).path == "/sign-in/code"
    check_accessibility(page, "second-factor-code")

    tab_to(page, "input[name=code]")
    page.keyboard.type("000000" if code_for(school_admin.email) != "000000" else "111111")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#error-summary")).to_contain_text("That code is not right")
    check_accessibility(page, "second-factor-code-error")

    page.fill("input[name=code]", "")
    tab_to(page, "input[name=code]")
    page.keyboard.type(code_for(school_admin.email))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert not urlsplit(page.url).path.startswith("/sign-in")
    expect(page.get_by_role("link", name=school_admin.email)).to_be_visible()


def test_approving_special_category_data_asks_for_the_code_again(
    app,
    page: Page,
    live_server: str,
    make_app,
    school_admin,
    authorize_in_browser,
    check_accessibility,
) -> None:
    application, secret = make_app(redirect_uris=[loopback_redirect_uri()])

    def decide(page: Page) -> None:
        # The factor was last checked 20 minutes ago (longer than STEP_UP_MINUTES).
        with app.app_context():
            db.session.execute(
                update(UserSession)
                .where(UserSession.user_id == school_admin.id)
                .values(second_factor_at=utcnow() - dt.timedelta(minutes=20))
            )
            db.session.commit()
        tab_to(page, "input[name=optional_scopes][value=DietaryNeeds]")
        page.keyboard.press("Space")
        tab_to(page, "input[type=submit][name=approve]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
        check_accessibility(page, "second-factor-step-up")
        tab_to(page, "#step-up-code")
        # Sign-in used this half-minute's code: the app's next one is the one to type.
        page.keyboard.type(code_for(school_admin.email, steps_ahead=1))
        page.keyboard.press("Enter")

    result = authorize_in_browser(
        page,
        live_server,
        application,
        secret,
        email=school_admin.email,
        decide=decide,
        name="step-up",
    )
    assert "code" in result["params"]
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        assert "DietaryNeeds" in grant.scopes
