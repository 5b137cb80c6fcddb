"""Bearer tokens on the API (RFC 6750), through Authlib's ResourceProtector, and the record of
what each token does with the data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from flask import abort, current_app
from sqlalchemy import or_

from authserver.api.responses import InsufficientScopeError
from authserver.domain import audit, field_use, resource_servers, tokens
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.tokens import Token
from authserver.web.errors import Error, error_response

REALM = "school-data"
LAST_USE_PRECISION_SECONDS = 60


class TokenValidator(BearerTokenValidator):
    """Our tokens: unrevoked, unexpired, the school's grant still in force, and meant for this
    API (its identifier in their audience, RFC 8707)."""

    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 4096:
            return None
        return tokens.find_by_access_token(token_string)

    def validate_token(self, token: Token | None, scopes: Any, request: Any) -> None:
        if token is None or not tokens.access_token_is_active(token):
            raise InvalidTokenError(description="The access token is not active.")
        issuer = current_app.config["SETTINGS"].issuer
        audience = resource_servers.access_audience(token.audience, issuer)
        if resource_servers.platform_api(issuer) not in audience:
            raise InvalidTokenError(description="The access token is not meant for this API.")
        super().validate_token(token, scopes, request)


class Protector(ResourceProtector):
    """Answers failures itself, as RFC 6750 §3 JSON with WWW-Authenticate and no-store."""

    def raise_error_response(self, error: OAuth2Error) -> None:
        body = Error.model_validate(dict(error.get_body()))
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if isinstance(error, MissingAuthorizationError | UnsupportedTokenTypeError):
            # RFC 6750 §3.1: no Bearer credentials at all (none, or Basic and the like) gets a
            # bare challenge, no error code.
            body = Error(
                error="invalid_request",
                error_description="Send an access token: Authorization: Bearer <token>.",
            )
            headers = [("WWW-Authenticate", f'Bearer realm="{REALM}"')]
        response = error_response(body, error.status_code)
        for name, value in headers:
            if name.lower() == "www-authenticate" and value.lower().startswith("bearer"):
                value = "Bearer" + value[len("bearer") :]
            response.headers[name] = value
        abort(response)


require_token = Protector()
require_token.register_token_validator(TokenValidator())


def vendor_application() -> Application:
    """The application behind a vendor-level (client_credentials) token; school tokens are
    refused, since the management API acts for the application, not for a school."""
    token: Token = current_token._get_current_object()
    if token.school_id is not None:
        require_token.raise_error_response(
            InvalidTokenError(
                description="Use the application's own token (grant_type=client_credentials)."
            )
        )
    return token.application


def invalid_token(description: str) -> None:
    """Stop the request: 401 invalid_token (RFC 6750 §3.1)."""
    require_token.raise_error_response(InvalidTokenError(description=description))


def insufficient_scope(scopes: list[str]) -> None:
    """Stop the request: 403 insufficient_scope, naming the scopes that would do (RFC 6750 §3)."""
    needed = " ".join(scopes)
    body = InsufficientScopeError(
        error="insufficient_scope",
        error_description="The token's grant does not cover this data.",
        scope=needed,
    )
    challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
    abort(error_response(body, 403, {"WWW-Authenticate": challenge}))


def record_use(
    token: Token,
    action: AuditAction,
    *,
    entity: str,
    records_per_field: Mapping[str, int] | None = None,
    **detail: Any,
) -> None:
    """Audit what a school token read or wrote, count a read per field it sent, and mark its
    grant as used, so the school sees what the application really does. `records_per_field`
    says how many records carried each field (an include's own count); without it each field
    sent counts the read's `rows`. The caller commits."""
    audit.record(
        action,
        actor=token.application,
        school=token.school_id,
        application=token.application_id,
        entity=entity,
        **detail,
    )
    now = utcnow()
    if action is AuditAction.DATA_READ and token.school_id is not None:
        # What was sent: `read_fields` ("entity.field", includes and sparse fieldsets counted)
        # where the caller names them, else the main entity's `fields`.
        sent: Mapping[str, int] | list[str] = (
            records_per_field
            if records_per_field is not None
            else field_use.fields_sent(entity, detail.get("fields", ()), detail.get("read_fields"))
        )
        field_use.record_read(
            school_id=token.school_id,
            application_id=token.application_id,
            fields=sent,
            rows=int(detail.get("rows", 0)),
            at=now,
            # What was read, even when nothing came back (the history names it); the
            # deletions feed is no entity.
            entity=entity if entity in default_catalogue().entity_labels else None,
        )
    if token.grant_id is not None:
        # The dashboard shows the last use to the minute: rewriting the grant row on every
        # request of a sync would only churn it (and contend for it across workers).
        db.session.connection().execute(
            Grant.__table__.update()
            .where(
                Grant.id == token.grant_id,
                or_(
                    Grant.last_used_at.is_(None),
                    Grant.last_used_at < now - dt.timedelta(seconds=LAST_USE_PRECISION_SECONDS),
                ),
            )
            .values(last_used_at=now)
        )
