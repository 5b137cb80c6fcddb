"""Registering vendors' applications and resource servers: the rules they must meet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from authserver import credentials
from authserver.catalogue import Catalogue, default_catalogue
from authserver.extensions import db
from authserver.models.applications import (
    TOKEN_ENDPOINT_AUTH_METHODS,
    Application,
    ApplicationScope,
    ResourceServer,
    Vendor,
)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


class RegistrationError(ValueError):
    """An application's registration breaks a rule; the message says which."""


@dataclass(frozen=True)
class ScopeRequest:
    """A scope an application asks for, with the purpose shown to the school."""

    scope: str
    purpose: str
    required: bool = True


def check_redirect_uri(uri: str) -> str:
    """Refuse a redirect URI that is not absolute https (or http on loopback) or has a fragment."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise RegistrationError(f"redirect URI {uri!r} must not contain a fragment")
    if not parts.netloc or parts.scheme not in {"https", "http"}:
        raise RegistrationError(f"redirect URI {uri!r} must be an absolute https URL")
    # RFC 9700 §2.1: plain http only for native apps on loopback.
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise RegistrationError(f"redirect URI {uri!r} must use https")
    return uri


def check_scope_requests(
    requests: Sequence[ScopeRequest], catalogue: Catalogue | None = None
) -> list[ScopeRequest]:
    """Every scope known, asked for once, with a purpose; PublicSchoolData is never asked for."""
    catalogue = catalogue or default_catalogue()
    catalogue.require_known([r.scope for r in requests])
    seen: set[str] = set()
    for request in requests:
        scope = catalogue[request.scope]
        if request.scope in seen:
            raise RegistrationError(f"scope {request.scope} is listed twice")
        seen.add(request.scope)
        if not scope.consent_required:
            raise RegistrationError(f"{request.scope} is always shared and needs no request")
        if scope.deprecated:
            raise RegistrationError(f"{request.scope} is deprecated and cannot be requested")
        if not request.purpose.strip():
            raise RegistrationError(f"say why the application needs {request.scope}")
    return list(requests)


def register_application(
    vendor: Vendor,
    *,
    name: str,
    redirect_uris: Sequence[str],
    scopes: Sequence[ScopeRequest],
    privacy_policy_url: str,
    description: str = "",
    terms_url: str | None = None,
    website_url: str | None = None,
    token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 (a method name)
    require_pushed_authorization_requests: bool = False,
    access_token_format: str = "opaque",  # noqa: S107 (a format name)
) -> tuple[Application, str | None]:
    """Add an application for `vendor`; returns it and its client secret (shown once)."""
    if not name.strip():
        raise RegistrationError("an application needs a name")
    if not redirect_uris:
        raise RegistrationError("register at least one redirect URI")
    if token_endpoint_auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
        raise RegistrationError(f"unknown token endpoint auth method {token_endpoint_auth_method}")
    for uri in redirect_uris:
        check_redirect_uri(uri)
    if urlsplit(privacy_policy_url).scheme != "https":
        raise RegistrationError("the privacy policy must be an https URL")
    check_scope_requests(scopes)
    application = Application(
        vendor=vendor,
        name=name.strip(),
        description=description,
        client_id=credentials.new_identifier(),
        redirect_uris=list(dict.fromkeys(redirect_uris)),
        privacy_policy_url=privacy_policy_url,
        terms_url=terms_url,
        website_url=website_url,
        token_endpoint_auth_method=token_endpoint_auth_method,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        access_token_format=access_token_format,
        scope_requests=[
            ApplicationScope(scope=r.scope, required=r.required, purpose=r.purpose.strip())
            for r in scopes
        ],
    )
    secret = None if application.is_public else application.issue_client_secret()
    db.session.add(application)
    db.session.flush()
    return application, secret


def scope_requests_from(
    required: Mapping[str, str], optional: Mapping[str, str] | None = None
) -> list[ScopeRequest]:
    """Build scope requests from {scope: purpose} maps of required and optional scopes."""
    return [ScopeRequest(s, p, True) for s, p in required.items()] + [
        ScopeRequest(s, p, False) for s, p in (optional or {}).items()
    ]


def register_resource_server(name: str) -> tuple[ResourceServer, str]:
    """Add a resource server allowed to introspect tokens; returns it and its secret (once)."""
    server = ResourceServer(name=name, client_id=credentials.new_identifier("rs_"))
    secret = server.issue_client_secret()
    db.session.add(server)
    db.session.flush()
    return server, secret
