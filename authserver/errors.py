"""Error answers: JSON for the protocol and API, a readable page for people."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

MACHINE_PREFIXES = (
    "/api/",
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
    429: "too_many_requests",
    503: "temporarily_unavailable",
}


def wants_json() -> bool:
    """Whether this request comes from a machine (protocol or API) rather than a browser."""
    return request.path.startswith(MACHINE_PREFIXES)


def json_error(status: int, error: str, description: str) -> Response:
    """A JSON error body in the shape RFC 6749 §5.2 uses."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response | tuple[str, int]:
        status = error.code or 500
        if wants_json():
            response = json_error(
                status, STATUS_ERRORS.get(status, "server_error"), error.description or ""
            )
            # Carry Allow (405), Retry-After (429, 503) and the like over to the JSON answer.
            for name, value in error.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        return render_template(
            "error.html", status=status, title=error.name, message=error.description
        ), status

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> tuple[str, int]:
        message = (
            "This form has expired or did not come from this site. Go back, reload and try again."
        )
        return render_template("error.html", status=400, title="Form expired", message=message), 400

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | tuple[str, int]:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "server_error", "The server met an unexpected error.")
        wrapped = InternalServerError()
        return render_template(
            "error.html",
            status=500,
            title=wrapped.name,
            message="Something went wrong on our side. Please try again.",
        ), 500
