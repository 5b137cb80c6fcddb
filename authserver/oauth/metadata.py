"""Authorization server metadata (RFC 8414): every other URL is discoverable from here."""

from __future__ import annotations

from typing import Any

from flask import url_for

from authserver.domain.catalogue import default_catalogue
from authserver.domain.resource_servers import PLATFORM_API_PATH, platform_api
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE


def server_metadata(issuer: str) -> dict[str, Any]:
    """The metadata document, with absolute URLs under the configured issuer."""

    def endpoint(name: str) -> str:
        return issuer + url_for(name)

    return {
        "issuer": issuer,
        "authorization_endpoint": endpoint("authorize.authorize"),
        "token_endpoint": endpoint("oauth.token"),
        "pushed_authorization_request_endpoint": endpoint("oauth.pushed_authorization_request"),
        "require_pushed_authorization_requests": False,
        "introspection_endpoint": endpoint("oauth.introspect"),
        "revocation_endpoint": endpoint("oauth.revoke"),
        "jwks_uri": endpoint("oauth.jwks"),
        "scopes_supported": [scope.name for scope in default_catalogue() if not scope.deprecated],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            SCHOOL_SECRET_GRANT_TYPE,
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": issuer + url_for("consent.scopes"),
    }


#: Where the platform API's own metadata is (RFC 9728 §3.1: the well-known name, then its path).
PROTECTED_RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource" + PLATFORM_API_PATH


def protected_resource_metadata(issuer: str) -> dict[str, Any]:
    """The platform API's protected resource metadata (RFC 9728): its resource identifier, the
    `resource` value (RFC 8707) and `aud` of tokens meant for it."""
    return {
        "resource": platform_api(issuer),
        "authorization_servers": [issuer],
        "scopes_supported": [scope.name for scope in default_catalogue() if not scope.deprecated],
        "bearer_methods_supported": ["header"],
        "resource_documentation": issuer + url_for("consent.scopes"),
    }
