"""Fixtures the domain's tests share with others."""

from tests.school_people import people  # noqa: F401 (the members' fixture)
