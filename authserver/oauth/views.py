"""The machine-facing OAuth endpoints: token, PAR, introspection, revocation, JWKS, metadata."""

from __future__ import annotations

import re

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, UnauthorizedClientError
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from authserver.domain import vendors
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.organisations import School
from authserver.oauth import par
from authserver.oauth.metadata import (
    PROTECTED_RESOURCE_METADATA_PATH,
    protected_resource_metadata,
    server_metadata,
)
from authserver.oauth.openid import provider_metadata
from authserver.oauth.server import ParametersRequest, oauth_server
from authserver.web.ratelimits import per_client

bp = Blueprint("oauth", __name__)
ERROR_DESCRIPTION_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")


def _form_problem() -> str | None:
    """Why a token-style request is malformed, or None (RFC 6749 §3.2)."""
    if request.args:
        return "Parameters belong in the request body, never in the URL."
    if request.mimetype != "application/x-www-form-urlencoded":
        return "Send the parameters as application/x-www-form-urlencoded."
    repeated = sorted(
        key
        for key in request.form
        if len(request.form.getlist(key)) > 1 and key not in par.REPEATABLE
    )
    if repeated:
        # RFC 6749 §5.2 limits error_description to printable ASCII without '"' or '\\'; a
        # name outside that is not echoed (Authlib would refuse to build the error at all).
        named = [key for key in repeated if ERROR_DESCRIPTION_TEXT.fullmatch(key)]
        return f"Parameters must not be repeated: {', '.join(named) or 'see the request'}."
    return None


def _invalid_request(description: str) -> Response:
    response: Response = oauth_server().handle_error_response(
        None, InvalidRequestError(description)
    )
    return response


@bp.post("/oauth/token")
@per_client("token_requests_per_client")
def token() -> Response:
    """RFC 6749 §3.2: exchange a grant for tokens."""
    if problem := _form_problem():
        return _invalid_request(problem)
    if not request.form.get("grant_type"):
        return _invalid_request("Missing grant_type.")
    response: Response = oauth_server().create_token_response()
    # Commit even on error: a replayed code or refresh token has just revoked its family.
    db.session.commit()
    return response


@bp.post("/oauth/introspect")
@per_client("introspection_requests_per_resource_server")
def introspect() -> Response:
    """RFC 7662: is this token active, and what may it do."""
    if problem := _form_problem():
        return _invalid_request(problem)
    response: Response = oauth_server().create_endpoint_response("introspection")
    return response


@bp.post("/oauth/revoke")
def revoke() -> Response:
    """RFC 7009: revoke an access or refresh token."""
    if problem := _form_problem():
        return _invalid_request(problem)
    response: Response = oauth_server().create_endpoint_response("revocation")
    db.session.commit()
    return response


@bp.post("/oauth/par")
def pushed_authorization_request() -> Response:
    """RFC 9126: a client pushes its authorization request and gets a request_uri."""
    if problem := _form_problem():
        return _invalid_request(problem)
    server = oauth_server()
    oauth_request = ParametersRequest(request.form.copy())
    try:
        client = server.authenticate_client(
            oauth_request, ["client_secret_basic", "client_secret_post", "none"], "token"
        )
        parameters = request.form.copy()
        for secret_field in ("client_secret", "client_assertion", "client_assertion_type"):
            parameters.pop(secret_field, None)
        if parameters.get("client_id", client.client_id) != client.client_id:
            raise InvalidRequestError("client_id does not match the authenticated client.")
        parameters["client_id"] = client.client_id
        # Validate now with Authlib's own checks, as the authorization endpoint will later.
        server.get_consent_grant(request=ParametersRequest(parameters), end_user=None)
        _check_may_ask_the_named_school(client, parameters.get("school"))
        request_uri, expires_in = par.push(client, parameters)
    except OAuth2Error as error:
        error.redirect_uri = None  # PAR errors are answered here, never redirected
        answer: Response = server.handle_error_response(oauth_request, error)
        return answer
    db.session.commit()
    response = jsonify(request_uri=request_uri, expires_in=expires_in)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_may_ask_the_named_school(client: Application, urn: str | None) -> None:
    """A request naming a real school is refused here if the client's vendor is unverified;
    one naming no school is refused at the authorization endpoint, once the school is known."""
    if not urn:
        return
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        return  # the authorization endpoint says that the school is not available
    try:
        vendors.check_may_ask(client, school)
    except vendors.NotVerified as refusal:
        raise UnauthorizedClientError(refusal.description) from refusal


@bp.get("/oauth/jwks")
def jwks() -> Response:
    """The public keys that verify JWT access tokens (RFC 9068)."""
    from authserver.signing import public_key_set

    response = jsonify(public_key_set())
    response.cache_control.max_age = 300
    return response


@bp.get("/.well-known/receipt-keys.json")
def receipt_keys() -> Response:
    """Every key that ever signed a consent receipt (a JWKS), for checking receipts offline."""
    from authserver.signing import receipt_key_set

    response = jsonify(receipt_key_set())
    response.cache_control.max_age = 300
    return response


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    """RFC 8414 authorization server metadata."""
    response = jsonify(server_metadata(current_app.config["SETTINGS"].issuer))
    response.cache_control.max_age = 3600
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """OpenID Connect Discovery 1.0: the provider's metadata."""
    issuer = current_app.config["SETTINGS"].issuer
    response = jsonify(provider_metadata(server_metadata(issuer)))
    response.cache_control.max_age = 3600
    return response


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """OpenID Connect Core §5.3: claims about the member a sign-in's token was issued for."""
    if not (request.headers.get("Authorization") or "").lower().startswith("bearer "):
        # RFC 6750 §3.1: a request with no Bearer credentials gets a bare challenge.
        response = jsonify(
            error="invalid_request",
            error_description="Send an access token: Authorization: Bearer <token>.",
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        response.headers["Cache-Control"] = "no-store"
        return response
    answer: Response = oauth_server().create_endpoint_response("userinfo")
    # Its subject's first use records the pairwise subject.
    db.session.commit()
    return answer


@bp.get(PROTECTED_RESOURCE_METADATA_PATH)
def protected_resource() -> Response:
    """RFC 9728 metadata of the platform's own resource API (/api/v1)."""
    response = jsonify(protected_resource_metadata(current_app.config["SETTINGS"].issuer))
    response.cache_control.max_age = 3600
    return response
