"""Connector tokens on /connector/v1 (RFC 6750 bearer tokens, through Authlib's protector):
only a token issued to an active connector passes, and it speaks for that one school."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError

from authserver.api.protection import Protector
from authserver.domain import connectors
from authserver.extensions import db
from authserver.models.connectors import Connector, ConnectorToken


class ConnectorTokenValidator(BearerTokenValidator):
    """Connector tokens only: an application's token is as unknown here as a made-up one."""

    def authenticate_token(self, token_string: str) -> ConnectorToken | None:
        return connectors.active_token(db.session, token_string)

    def validate_token(self, token: ConnectorToken | None, scopes: Any, request: Any) -> None:
        if token is None:
            raise InvalidTokenError(
                description="The access token is not an active connector token."
            )


require_connector = Protector()
require_connector.register_token_validator(ConnectorTokenValidator())


def current_connector() -> Connector:
    """The connector whose token authorised this request."""
    token: ConnectorToken = current_token._get_current_object()
    return token.connector
