"""Fixtures of the OAuth and OpenID Connect tests: the school's members, for sign-in."""

from __future__ import annotations

from tests.school_people import people  # noqa: F401 (the members' fixture, for these tests too)
