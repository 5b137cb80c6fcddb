"""Error answers: JSON for the protocol and API, a readable page for people."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping

from flask import Flask, Response, current_app, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from authserver.domain.encoding import Omissible
from authserver.extensions import db, limiter

MACHINE_PREFIXES = (
    "/api/",
    "/connector/",
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/par",
    "/oauth/jwks",
    "/.well-known/",
)

# RFC 6749 §5.2 / RFC 6750 §3.1 codes for the HTTP statuses a machine caller may meet.
STATUS_ERRORS = {
    400: "invalid_request",
    401: "invalid_token",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    # RFC 6750 registers no code for a rate limit; the API's documented one is this.
    429: "too_many_requests",
    503: "temporarily_unavailable",
}


# At /oauth/* a client that must slow down gets `slow_down`: the code the IANA OAuth errors
# registry holds for token endpoint responses (RFC 8628 §3.5), which OAuth libraries already
# treat as "back off". `temporarily_unavailable` would blame the server, and is what our 503
# says when the database is away.
OAUTH_RATE_LIMITED = "slow_down"


# Plain words for the people who meet these in a browser.
PAGE_WORDS = {
    429: ("Too many attempts", "Please wait a few minutes, then try again."),
    503: ("Temporarily unavailable", "The service is busy or being updated. Try again shortly."),
}


def wants_json() -> bool:
    """Whether this request comes from a machine (protocol or API) rather than a browser."""
    return request.path.startswith(MACHINE_PREFIXES)


def _machine_error_code(status: int) -> str:
    if status == 429 and request.path.startswith("/oauth/"):
        return OAUTH_RATE_LIMITED
    return STATUS_ERRORS.get(status, "server_error")


def _description(error: HTTPException) -> str:
    if isinstance(error, RateLimitExceeded):
        return (
            f"Too many requests: the limit is {error.limit.limit}. "
            "Wait the number of seconds in Retry-After, then try again."
        )
    return error.description or ""


def _seconds_until_reset(error: RateLimitExceeded) -> int:
    """Seconds until the breached limit's window starts afresh (at least one)."""
    window = error.limit.limit.get_expiry()
    breached = limiter.current_limit
    if breached is None:  # not known: a whole window is the safe answer
        return window
    return min(window, max(1, math.ceil(breached.reset_at - time.time())))


class Error(BaseModel):
    """A JSON error body in the shape RFC 6749 §5.2 and RFC 6750 §3 use."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="A machine-readable code (RFC 6749 §5.2).")
    error_description: Omissible[str] = Field(None, description="What went wrong, for people.")
    error_uri: Omissible[str] = None


def error_response(body: Error, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An error body as a JSON answer that no cache keeps."""
    response = Response(body.model_dump_json(), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def json_error(status: int, error: str, description: str) -> Response:
    """A JSON error answer: `error` and `error_description`, as RFC 6749 §5.2 has them."""
    return error_response(Error(error=error, error_description=description), status)


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if wants_json():
            response = json_error(status, _machine_error_code(status), _description(error))
        else:
            title, message = PAGE_WORDS.get(status, (error.name, error.description))
            response = Response(
                render_template("error.html", status=status, title=title, message=message),
                status=status,
                mimetype="text/html",
            )
        # Carry Allow (405), Retry-After (503) and the like over to the answer.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        if isinstance(error, RateLimitExceeded):
            response.headers["Retry-After"] = str(_seconds_until_reset(error))
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> tuple[str, int]:
        message = (
            "This form has expired or did not come from this site. Go back, reload and try again."
        )
        return render_template("error.html", status=400, title="Form expired", message=message), 400

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # The database is unreachable (or not migrated): say so, and when to try again.
        _forget_failed_work()
        app.logger.error(
            "database unavailable on %s %s: %s",
            request.method,
            request.path,
            type(error.orig).__name__ if error.orig else type(error).__name__,
        )
        return _failure(
            503,
            "temporarily_unavailable",
            "The service cannot reach its database. Try again shortly.",
            retry_after_seconds=5,
        )

    @app.errorhandler(DataError)
    def _unstorable_value(error: DataError) -> Response:
        # The database refused a value the request carried (out of range, not storable text):
        # the caller's mistake, said as such rather than as our failure.
        _forget_failed_work()
        app.logger.warning("database refused a value on %s %s", request.method, request.path)
        return _failure(400, "invalid_request", "A value in the request cannot be used.")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        _forget_failed_work()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _failure(500, "server_error", "Something went wrong on our side. Please try again.")

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first.
    app.teardown_appcontext(_end_session)


def _end_session(_error: BaseException | None) -> None:
    """End the request's session; a connection the database dropped after the answer was made
    (a restart) cannot roll back, so it is discarded rather than turning the answer into a 500."""
    session = db.session()
    try:
        db.session.remove()
    except SQLAlchemyError:
        current_app.logger.warning("database connection lost while ending a request")
        with contextlib.suppress(SQLAlchemyError):
            session.invalidate()
        db.session.registry.clear()


def _forget_failed_work() -> None:
    """Roll back whatever the failed request began, so nothing half-done is kept."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.remove()


def _failure(
    status: int, error: str, message: str, retry_after_seconds: int | None = None
) -> Response:
    if wants_json():
        response = json_error(status, error, message)
    else:
        title = PAGE_WORDS.get(status, ("Something went wrong", message))[0]
        try:
            page = render_template("error.html", status=status, title=title, message=message)
        except Exception:  # the error page itself must never fail
            page = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
        response = Response(page, status=status, mimetype="text/html")
    if retry_after_seconds is not None:
        response.headers["Retry-After"] = str(retry_after_seconds)
    return response
