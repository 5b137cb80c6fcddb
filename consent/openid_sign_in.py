"""A school's people signing in to applications (OpenID Connect) in the browser: the member's
part of the authorization endpoint (no consent screen: the school consented), and
RP-initiated logout, which ends the member's session on the server."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, grants
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf.csrf import validate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from authserver.domain import audit, member_sessions, sign_in
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import csrf, db
from authserver.models.applications import Application
from authserver.models.members import MemberSession
from authserver.oauth import par
from authserver.oauth.openid import session_id_claim
from authserver.oauth.principal import SchoolPrincipal
from authserver.oauth.server import ParametersRequest, oauth_server
from consent.member_signin import current_member_session

bp = Blueprint("openid", __name__)

#: The query parameter that says when the authorization endpoint asked the member to sign in
#: again (prompt=login), signed so that it cannot be forged to skip the question.
LOGIN_ASKED = "login_asked"
LOGIN_ASKED_MAX_SECONDS = 900

ErrorResponse = Callable[[ParametersRequest, OAuth2Error], Response | tuple[str, int]]


def asks_for_sign_in(parameters: MultiDict) -> bool:
    """Whether an authorization request is a sign-in (its scope has `openid`)."""
    return sign_in.SIGN_IN_SCOPE in (parameters.get("scope") or "").split()


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="prompt=login")


def _without_marker(path: str) -> str:
    parts = urlsplit(path)
    query = [(k, v) for k, v in MultiDict(request.args).items(multi=True) if k != LOGIN_ASKED]
    return parts.path + ("?" + urlencode(query) if query else "")


def _signed_in_since_asked(member_session: MemberSession) -> bool:
    marker = request.args.get(LOGIN_ASKED)
    if not marker:
        return False
    try:
        asked_at = _signer().loads(marker, max_age=LOGIN_ASKED_MAX_SECONDS)
    except BadSignature:
        return False
    return isinstance(asked_at, int) and member_session.created_at.timestamp() >= asked_at


def _too_old(oauth_request: ParametersRequest, member_session: MemberSession) -> bool:
    """OpenID Connect Core §3.1.2.1 max_age: the sign-in is older than the client allows."""
    max_age = oauth_request.payload.data.get("max_age")
    if max_age is None or not str(max_age).isdigit():
        return False
    age = dt.datetime.now(dt.UTC) - member_session.created_at
    return age.total_seconds() > int(max_age)


def _to_sign_in(parameters: MultiDict, next_path: str) -> Response:
    return redirect(url_for("members.sign_in", next=next_path, school=parameters.get("school")))


def authorize_member(
    oauth_request: ParametersRequest,
    consent_grant: grants.AuthorizationCodeGrant,
    parameters: MultiDict,
    pushed: par.PushedAuthorizationRequest | None,
    error_response: ErrorResponse,
) -> Response | tuple[str, int]:
    """The member's sign-in to the application: signed in (again, if the client asks), let in
    by the school's grant, then sent back with a code."""
    server = oauth_server()
    member_session = current_member_session()
    prompts = (oauth_request.payload.data.get("prompt") or "").split()
    if member_session is None:
        # prompt=none without a session was answered login_required by Authlib already.
        return _to_sign_in(parameters, _without_marker(request.full_path))
    fresh_needed = ("login" in prompts and not _signed_in_since_asked(member_session)) or (
        _too_old(oauth_request, member_session)
    )
    if fresh_needed:
        if "none" in prompts:
            return error_response(
                oauth_request, LoginRequiredError(redirect_uri=consent_grant.redirect_uri)
            )
        marker = _signer().dumps(int(time.time()))
        path = _without_marker(request.full_path)
        joiner = "&" if "?" in path else "?"
        return _to_sign_in(parameters, f"{path}{joiner}{urlencode({LOGIN_ASKED: marker})}")
    member = member_session.member
    application: Application = oauth_request.client
    try:
        grant = sign_in.grant_for_sign_in(db.session, application, member, member_session.method)
    except sign_in.SignInRefused as refusal:
        return error_response(
            oauth_request,
            AccessDeniedError(refusal.description, redirect_uri=consent_grant.redirect_uri),
        )
    asked = set((oauth_request.scope or "").split())
    # A sign-in carries sign-in scopes only: a pupil signing in never unlocks school data.
    scopes = [
        name
        for name in default_catalogue().sign_in_scopes
        if name in asked and name in grant.scopes
    ]
    if pushed is not None and not par.consume(pushed):
        return render_template(
            "error.html",
            status=400,
            title="This request was already answered",
            message="Go back to the application and start again.",
        ), 400
    principal = SchoolPrincipal(
        school_id=grant.school_id,
        grant_id=grant.id,
        grant_version=grant.version,
        restrictions=grant.restrictions,
        scope=" ".join(scopes),
        member_id=member.id,
        member_session_id=member_session.id,
        auth_method=member_session.method,
    )
    response: Response = server.create_authorization_response(
        request=oauth_request, grant_user=principal, grant=consent_grant
    )
    audit.record(
        AuditAction.MEMBER_SIGNED_IN_TO_APPLICATION,
        actor="member sign-in",
        school=grant.school_id,
        application=application,
        member=member.id,
        scope=" ".join(scopes),
    )
    db.session.commit()
    return response


@bp.route("/oauth/end-session", methods=["GET", "POST"])
@csrf.exempt  # the application sends the member here; a confirmation form checks its token
def end_session() -> Response | tuple[str, int]:
    """OpenID Connect RP-Initiated Logout 1.0: end the member's session on the server, then
    go back to the application only to a post-logout redirect URI it registered."""
    server = oauth_server()
    parameters = request.values.copy()
    parameters.pop("csrf_token", None)
    try:
        ended = server.validate_endpoint_request("end_session", ParametersRequest(parameters))
    except OAuth2Error as error:
        return _logout_problem(error.get_error_description() or "The sign-out link is not valid.")
    asked = parameters.get("post_logout_redirect_uri")
    application = ended.client if isinstance(ended.client, Application) else None
    registered = (application.post_logout_redirect_uris or []) if application else []
    if asked and asked not in registered:
        return _logout_problem(
            "The application asked to send you to an address it has not registered, so you "
            "stay here."
        )
    found = current_member_session()
    # RP-Initiated Logout §6: without a hint, or with one for another session, the link could
    # be anyone's: the member confirms before we act on it.
    hinted = (ended.id_token_claims or {}).get("sid")
    for_another = found is not None and hinted != session_id_claim(found)
    if (ended.needs_confirmation or for_another) and not _confirmed():
        return render_template(
            "members/sign_out_confirm.html", application=application, parameters=parameters
        ), 200
    if found is not None:
        member_sessions.end(found, "signed out by an application")
        audit.record(
            AuditAction.MEMBER_SIGNED_OUT,
            actor=application or "member sign-in",
            school=found.member.school_id,
            member=found.member_id,
        )
        db.session.commit()
    session.clear()
    response = server.create_endpoint_response("end_session", ended)
    if response is not None:
        return response  # type: ignore[no-any-return]
    return render_template("members/signed_out.html", application=application), 200


def _confirmed() -> bool:
    if request.method != "POST" or "confirm" not in request.form:
        return False
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def _logout_problem(message: str) -> tuple[str, int]:
    return render_template(
        "error.html", status=400, title="You could not be signed out from here", message=message
    ), 400
