"""Who a token is for: a school's grant at a version (or, for vendor tokens, no school)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SchoolPrincipal:
    """The resource owner Authlib passes around as "user": a school, through its grant."""

    school_id: int
    grant_id: int
    grant_version: int
    restrictions: dict[str, Any] = field(default_factory=dict)
    user_id: int | None = None
    # The scopes this authorization grants, space-separated.
    scope: str = ""
    # Signing in with OpenID Connect: the member, and the browser session they signed in with.
    member_id: int | None = None
    member_session_id: int | None = None
    # How the member proved who they are (the session's method), kept with their tokens.
    auth_method: str | None = None

    def get_user_id(self) -> int | None:
        return self.user_id
