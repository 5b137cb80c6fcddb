"""Keeping secrets and personal data out of logs, whatever level an operator turns logging to.

Two libraries log too much at DEBUG: Authlib writes every token it issues, and SQLAlchemy every
result row (pupils' data, password hashes, secret digests). SQL parameters are hidden by the
engine's `hide_parameters` option (see `create_app`); the rest is filtered here.
"""

from __future__ import annotations

import logging
from typing import Any

REDACTED = "[redacted]"
TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})
# The Authlib modules of the grants we register, each of which logs "Issue token %r" at DEBUG.
AUTHLIB_TOKEN_LOGGERS = (
    "authlib.oauth2.rfc6749.grants.authorization_code",
    "authlib.oauth2.rfc6749.grants.refresh_token",
    "authlib.oauth2.rfc6749.grants.client_credentials",
)
SQLALCHEMY_ENGINE_LOGGER = "sqlalchemy.engine.Engine"


def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict) and TOKEN_FIELDS & value.keys():
        return {key: REDACTED if key in TOKEN_FIELDS else item for key, item in value.items()}
    return value


def redact_tokens(record: logging.LogRecord) -> bool:
    """Keep the record, with every token in its arguments replaced by `[redacted]`."""
    if isinstance(record.args, tuple):
        record.args = tuple(_without_tokens(arg) for arg in record.args)
    return True


def drop_result_rows(record: logging.LogRecord) -> bool:
    """Drop SQLAlchemy's DEBUG record of a result row; keep its statements."""
    return record.msg != "Row %r"


def keep_secrets_out_of_logs() -> None:
    """Attach the filters to the loggers that need them (once: adding again changes nothing)."""
    for name in AUTHLIB_TOKEN_LOGGERS:
        logging.getLogger(name).addFilter(redact_tokens)
    logging.getLogger(SQLALCHEMY_ENGINE_LOGGER).addFilter(drop_result_rows)
