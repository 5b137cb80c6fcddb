"""The OpenID Connect pages in a browser, axe-checked: the consent screen's own part for
signing the school's people in, and a member's sign-out asked for by an application (the
confirmation, with the keyboard, then the signed-out page)."""

from __future__ import annotations

from urllib.parse import urlencode

from playwright.sync_api import Page

from tests.browser.conftest import focused, tab_to
from tests.browser.test_launcher_browser_pages import member_sign_in
from tests.browser.test_school_pages import sign_in
from tests.oauth_flow import pkce_pair
from tests.school_people import People

REDIRECT = "https://app.example.com/callback"


def test_the_consent_screen_shows_signing_in_as_its_own_part(
    page: Page, live_server: str, make_app, school_admin, school, check_accessibility
) -> None:
    application, _ = make_app(
        name="Reading Rocket",
        required={"openid": "To let pupils sign in.", "StudentLite": "To list pupils."},
        optional={"profile": "To greet pupils by name.", "SignInRole": "To know who is who."},
        redirect_uris=[REDIRECT],
    )
    sign_in(page, live_server, school_admin.email)
    _, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "school": school.urn,
        }
    )
    # No `scope`: the school decides on everything the application asks for, sign-in included
    # (a request naming `openid` is a member signing in).
    page.goto(f"{live_server}/oauth/authorize?{query}")
    page.get_by_text("Signing in your school's people").first.wait_for()
    check_accessibility(page, "openid-consent-sign-in-part")


def test_a_member_confirms_signing_out_with_the_keyboard(
    page: Page, live_server: str, school, people: People, check_accessibility
) -> None:
    member_sign_in(page, live_server, school, "zoe.obrien")
    page.goto(f"{live_server}/oauth/end-session")
    page.get_by_role("heading", name="Sign out?").wait_for()
    check_accessibility(page, "openid-sign-out-confirm")
    tab_to(page, "button[name=confirm]")
    assert focused(page, "button[name=confirm]")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="You have signed out").wait_for()
    check_accessibility(page, "openid-signed-out")
    page.goto(f"{live_server}/members/")
    page.wait_for_url(lambda url: "/members/sign-in" in url)
