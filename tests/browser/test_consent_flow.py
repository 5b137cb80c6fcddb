"""A school admin decides on a vendor's request in a browser, as a vendor would send them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import loopback_redirect_uri, tab_to

REQUIRED = {"StudentLite", "Attendance"}  # make_app's defaults; Contact and DietaryNeeds optional


@pytest.fixture
def loopback_app(make_app):
    """An application whose one redirect URI is on loopback: (application, client_secret)."""
    return make_app(redirect_uris=[loopback_redirect_uri()])


def test_approving_one_optional_scope(
    page: Page, live_server: str, loopback_app, school_admin, school, authorize_in_browser
) -> None:
    application, secret = loopback_app
    result = authorize_in_browser(
        page, live_server, application, secret, email=school_admin.email, optional=["DietaryNeeds"]
    )
    assert "code" in result["params"], result["params"]
    token = result["token"]
    assert set(token["scope"].split()) == REQUIRED | {"DietaryNeeds"}
    assert token["school_id"] == school.id


def test_denying_sends_access_denied(
    page: Page, live_server: str, loopback_app, school_admin, authorize_in_browser
) -> None:
    application, secret = loopback_app
    result = authorize_in_browser(
        page, live_server, application, secret, email=school_admin.email, approve=False, name="deny"
    )
    assert result["params"]["error"] == "access_denied"
    assert "code" not in result["params"]
    assert result["token"] is None


def test_the_decision_with_the_keyboard_alone(
    page: Page, live_server: str, loopback_app, school_admin, authorize_in_browser
) -> None:
    """Tab to a checkbox, Space ticks it, Tab to Approve, Enter."""

    def decide(page: Page) -> None:
        checkbox = "input[name=optional_scopes][value=Contact]"
        tab_to(page, checkbox)
        page.keyboard.press("Space")
        assert page.is_checked(checkbox)
        tab_to(page, "input[type=submit][name=approve]")
        page.keyboard.press("Enter")

    application, secret = loopback_app
    result = authorize_in_browser(
        page,
        live_server,
        application,
        secret,
        email=school_admin.email,
        decide=decide,
        name="keyboard",
    )
    assert set(result["token"]["scope"].split()) == REQUIRED | {"Contact"}
