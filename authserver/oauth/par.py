"""Pushed authorization requests (RFC 9126): Authlib has none, so this is ours, on its checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import current_app
from sqlalchemy import CursorResult, select, update
from werkzeug.datastructures import MultiDict

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.tokens import PushedAuthorizationRequest

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
#: Parameters a request may repeat: RFC 8707 §2 names one resource a `resource` parameter.
REPEATABLE = frozenset({"resource"})


def push(application: Application, parameters: MultiDict) -> tuple[str, int]:
    """Store an already validated authorization request; returns its request_uri and lifetime."""
    if "request_uri" in parameters:
        raise InvalidRequestError("A pushed request cannot itself carry request_uri.")
    ttl = current_app.config["SETTINGS"].par_request_ttl_seconds
    reference = credentials.new_secret()
    db.session.add(
        PushedAuthorizationRequest(
            request_uri_digest=credentials.digest(reference),
            application_id=application.id,
            parameters={
                key: parameters.getlist(key) if key in REPEATABLE else parameters.get(key)
                for key in parameters
            },
            expires_at=utcnow() + timedelta(seconds=ttl),
        )
    )
    db.session.flush()
    return REQUEST_URI_PREFIX + reference, ttl


def find(client_id: str | None, request_uri: str) -> PushedAuthorizationRequest | None:
    """The live pushed request behind `request_uri`, if it was pushed by `client_id`."""
    if not client_id or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    reference = request_uri.removeprefix(REQUEST_URI_PREFIX)
    pushed: PushedAuthorizationRequest | None = db.session.scalar(
        select(PushedAuthorizationRequest).where(
            PushedAuthorizationRequest.request_uri_digest == credentials.digest(reference)
        )
    )
    if pushed is None or pushed.used_at is not None or utcnow() >= pushed.expires_at:
        return None
    application = db.session.get(Application, pushed.application_id)
    if application is None or application.client_id != client_id:
        return None
    return pushed


def parameters_of(pushed: PushedAuthorizationRequest) -> MultiDict:
    """The pushed request's parameters, as the authorization endpoint reads them."""
    return MultiDict(pushed.parameters)


def consume(pushed: PushedAuthorizationRequest) -> bool:
    """Mark a pushed request used at the decision; False if another request got there first."""
    result = db.session.execute(
        update(PushedAuthorizationRequest)
        .where(
            PushedAuthorizationRequest.id == pushed.id,
            PushedAuthorizationRequest.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(cast(CursorResult[Any], result).rowcount)
