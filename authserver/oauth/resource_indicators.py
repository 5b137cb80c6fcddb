"""Resource indicators (RFC 8707) on Authlib's grants: the `resource` parameter names the
resource servers a token is for; Authlib has no support of its own, so this is ours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import current_app

from authserver.domain import resource_servers
from authserver.models.applications import Application

#: The longest resource value looked at; a registered identifier is at most 500 characters.
MAX_RESOURCE_LENGTH = 2000


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed to the client."""

    error = "invalid_target"


def issuer() -> str:
    """The configured issuer, from which the platform API's identifier derives."""
    value: str = current_app.config["SETTINGS"].issuer
    return value


def requested_resources(request: OAuth2Request) -> list[str]:
    """The `resource` values of a request, each an absolute URI without a fragment (RFC 8707 §2)."""
    values: list[str] = list(request.payload.datalist.get("resource") or [])
    for value in values:
        if not value or len(value) > MAX_RESOURCE_LENGTH:
            raise InvalidTargetError("Each resource must be an absolute URI.")
        try:
            parts = urlsplit(value)
        except ValueError:
            raise InvalidTargetError("Each resource must be an absolute URI.") from None
        if not parts.scheme or not parts.netloc:
            raise InvalidTargetError("Each resource must be an absolute URI.")
        if parts.fragment or "#" in value:
            raise InvalidTargetError("A resource must not contain a fragment.")
    return values


def declared(client: Any) -> list[str]:
    """Every resource an application may have tokens for (none for any other kind of client)."""
    if not isinstance(client, Application):
        return []
    return resource_servers.declared_audience(client, issuer())


def choose(request: OAuth2Request, allowed: Sequence[str]) -> list[str]:
    """The audience for this request: the resources it names, each of them `allowed`, or all of
    `allowed` when it names none; invalid_target otherwise."""
    try:
        return resource_servers.choose_audience(requested_resources(request), allowed)
    except resource_servers.TargetRefused as refusal:
        raise InvalidTargetError(str(refusal)) from None


class ResourceIndicators:
    """An extension of the code grant: the authorization request's resources are checked against
    what the application declared and kept with the code; the token request may narrow them."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook(
            "after_validate_authorization_request_payload", self.validate_authorization_resources
        )
        grant.register_hook("after_validate_token_request", self.validate_token_resources)

    def validate_authorization_resources(self, grant: Any, result: Any = None) -> None:
        # Authlib sets the redirect URI on an error raised here: it goes back to the client.
        request = grant.request
        request.audience = choose(request, declared(request.client))

    def validate_token_resources(self, grant: Any, result: Any = None) -> None:
        request = grant.request
        code = request.authorization_code
        authorised = code.audience if code.audience else declared(request.client)
        request.audience = choose(request, authorised)
        request.refresh_audience = list(authorised)
