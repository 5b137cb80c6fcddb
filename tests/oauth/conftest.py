"""The OAuth tests' shared actor: a vendor's flow with the school admin already signed in."""

from __future__ import annotations

import pytest

from tests.oauth_flow import OAuthFlow

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def flow(client, vendor_app, school_admin) -> OAuthFlow:
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return flow
