"""Fixtures of the vendor's pages: its admin, and a client signed in as them."""

from __future__ import annotations

import pytest

from authserver.models import Role
from tests.oauth_flow import sign_in
from tests.school_people import people  # noqa: F401 (the members' fixture, for these tests too)


@pytest.fixture
def vendor_admin(make_user, vendor):
    return make_user(Role.VENDOR_ADMIN, vendor=vendor)


@pytest.fixture
def signed_in(client, vendor_admin):
    """A client signed in as the vendor's admin."""
    assert sign_in(client, vendor_admin.email).status_code == 302
    return client
