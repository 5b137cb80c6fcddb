"""The authorization endpoint (RFC 6749 §4.1): a school admin decides for their school; a
sign-in (OpenID Connect) is its people's (consent/openid_sign_in.py)."""

from __future__ import annotations

from collections.abc import Callable

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from authserver.domain import grants, vendors
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.organisations import School
from authserver.models.users import User
from authserver.oauth import par
from authserver.oauth.principal import SchoolPrincipal
from authserver.oauth.server import ParametersRequest, oauth_server
from authserver.web.security_headers import content_security_policy, origin_source
from consent import openid_sign_in
from consent.decisions import approve_as_decided, new_screen, scopes_being_approved
from consent.factor_checks import step_up
from consent.forms import DecisionForm
from consent.member_signin import current_member
from consent.signin import current_user

bp = Blueprint("authorize", __name__)


class AuthorizationProblem(Exception):
    """A request we answer with a page, never a redirect (unknown client, bad redirect URI...)."""

    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


def _problem_page(problem: AuthorizationProblem) -> tuple[str, int]:
    if isinstance(problem, NotVerifiedProblem):
        return render_template(
            "error.html",
            status=problem.status,
            title=problem.title,
            message=problem.message,
            back_url=problem.back,
            back_text="Go back to the application (it is told that it could not connect)",
        ), problem.status
    return render_template(
        "error.html", status=problem.status, title=problem.title, message=problem.message
    ), problem.status


def _parameters() -> tuple[MultiDict, par.PushedAuthorizationRequest | None]:
    """The request's parameters: from the query, or from the pushed request it names."""
    if "request_uri" not in request.args:
        return request.args.copy(), None
    pushed = par.find(request.args.get("client_id"), request.args["request_uri"])
    if pushed is None:
        raise AuthorizationProblem(
            "This sign-in link has expired",
            "The application's request has expired or was already used. Go back to the "
            "application and start again.",
        )
    return par.parameters_of(pushed), pushed


def _error_response(
    oauth_request: ParametersRequest, error: OAuth2Error
) -> Response | tuple[str, int]:
    """Redirect the error to the client only once its redirect URI is known good (RFC 6749
    §4.1.2.1); otherwise show it here. Errors carry `iss` too (RFC 9207 §2)."""
    if not error.redirect_uri:
        raise AuthorizationProblem(
            "This request cannot be completed", error.get_error_description() or error.error
        )
    error.state = oauth_request.payload.state
    response = oauth_server().handle_error_response(oauth_request, error)
    response.location = add_params_to_uri(
        response.location, {"iss": current_app.config["SETTINGS"].issuer}
    )
    return response


class NotVerifiedProblem(AuthorizationProblem):
    """An unverified vendor's application asked a real school: a page for the school admin,
    with a way back to the application carrying `access_denied` (RFC 6749 §4.1.2.1)."""

    def __init__(self, refusal: vendors.NotVerified, back: str) -> None:
        super().__init__("This application cannot connect to your school yet", str(refusal), 403)
        self.back = back


def _choose_school(
    user: User, urn: str | None, application: Application, back: Callable[[str], str]
) -> tuple[School | None, list[School]]:
    """The school this decision is for, if settled, and the schools the user may decide for
    (only demo schools while the application's vendor is not verified)."""
    schools = [school for school in user.administered_schools() if user.can_approve_for(school)]
    if not schools:
        raise AuthorizationProblem(
            "You cannot approve data sharing",
            "Your account may view your school's connections but not approve new ones. "
            "Ask a colleague who approves data sharing for your school.",
            403,
        )
    if urn:
        school = next((s for s in schools if s.urn == urn), None)
        if school is None:
            raise AuthorizationProblem(
                "School not available",
                f"You cannot approve data sharing for the school with URN {urn}.",
                403,
            )
        if school.is_closed:
            raise _closed(school)
        _check_may_ask(application, school, back)
        return school, [s for s in schools if not s.is_closed]
    open_schools = [s for s in schools if not s.is_closed]
    if not open_schools:
        raise _closed(schools[0])
    allowed = [s for s in open_schools if vendors.may_ask(application, s)]
    if not allowed:
        _check_may_ask(application, open_schools[0], back)
    return (allowed[0] if len(allowed) == 1 else None), allowed


def _closed(school: School) -> AuthorizationProblem:
    return AuthorizationProblem(
        "This school has closed",
        f"{school.name} (URN {school.urn}) has closed, according to the DfE register, so no "
        "application can connect to it. Go back to the application and tell its makers.",
        409,
    )


def _check_may_ask(application: Application, school: School, back: Callable[[str], str]) -> None:
    try:
        vendors.check_may_ask(application, school)
    except vendors.NotVerified as refusal:
        raise NotVerifiedProblem(refusal, back(refusal.description)) from None


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int] | str:
    """Validate the request, make sure a school admin is signed in, and take their decision."""
    try:
        return _authorize()
    except AuthorizationProblem as problem:
        return _problem_page(problem)


def _authorize() -> Response | tuple[str, int] | str:
    server = oauth_server()
    parameters, pushed = _parameters()
    oauth_request = ParametersRequest(parameters)
    # A sign-in (OpenID Connect) is a member's, not a school admin's: Authlib's prompt checks
    # need to know whether one is signed in.
    signing_in = openid_sign_in.asks_for_sign_in(parameters)
    try:
        consent_grant = server.get_consent_grant(
            request=oauth_request, end_user=current_member() if signing_in else None
        )
        application: Application = oauth_request.client
        if application.require_pushed_authorization_requests and pushed is None:
            raise InvalidRequestError(
                "This application must push its authorization requests (RFC 9126).",
                redirect_uri=consent_grant.redirect_uri,
            )
    except OAuth2Error as error:
        return _error_response(oauth_request, error)
    if signing_in:
        return openid_sign_in.authorize_member(
            oauth_request, consent_grant, parameters, pushed, _error_response
        )

    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))

    def back(description: str) -> str:
        """The registered redirect URI with the refusal, for the page's way back."""
        return add_params_to_uri(
            consent_grant.redirect_uri,
            {
                "error": "access_denied",
                "error_description": description,
                **({"state": oauth_request.payload.state} if oauth_request.payload.state else {}),
                "iss": current_app.config["SETTINGS"].issuer,
            },
        )

    requested = oauth_request.scope.split() if oauth_request.scope else None
    form = DecisionForm()
    school, schools = _choose_school(
        user, form.school.data or parameters.get("school"), application, back
    )
    grant = grants.find_grant(application, school) if school else None
    choice = grants.scope_choice(application, requested, grant)
    screen = new_screen(application, school, schools, choice, grant, form)
    if school is not None and not form.school.data:
        form.school.data = school.urn

    if request.method == "POST" and form.validate_on_submit() and school is not None:
        if not form.deny.data:
            asked_again = step_up(
                scopes_being_approved(screen),
                request.full_path,
                origin_source(consent_grant.redirect_uri),
            )
            if asked_again is not None:
                return asked_again
        if pushed is not None and not par.consume(pushed):
            raise AuthorizationProblem(
                "This request was already answered", "Go back to the application and start again."
            )
        if form.deny.data:
            grants.deny(application, school, by=user)
            response = server.create_authorization_response(
                request=oauth_request, grant_user=None, grant=consent_grant
            )
            db.session.commit()
            return response
        grant = approve_as_decided(screen, user)
        if grant is not None:
            asked = set(requested or application.requested_scopes)
            granted = [
                s
                for s in default_catalogue().scopes
                if s in asked
                and (s in grant.scopes or s in default_catalogue().always_shared)
                # The school's own token carries data scopes; sign-in is its people's.
                and s not in default_catalogue().sign_in_scopes
            ]
            principal = SchoolPrincipal(
                school_id=school.id,
                grant_id=grant.id,
                grant_version=grant.version,
                restrictions=grant.restrictions,
                user_id=user.id,
                scope=" ".join(granted),
            )
            response = server.create_authorization_response(
                request=oauth_request, grant_user=principal, grant=consent_grant
            )
            db.session.commit()
            return response

    status = 400 if request.method == "POST" else 200
    page = render_template("consent.html", screen=screen, form=form, action=request.full_path)
    # The decision redirects to the client: allow exactly that (already verified) redirect URI.
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(
            origin_source(consent_grant.redirect_uri)
        ),
    }
    return page, status, headers
