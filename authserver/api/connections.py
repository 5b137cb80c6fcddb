"""The vendor's management API: ask schools, list connections, claim school secrets."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, current_app, request
from sqlalchemy import select

from authserver.api import bp, responses
from authserver.api.protection import require_token, vendor_application
from authserver.api.resources import parse_moment
from authserver.api.responses import model_response, no_store
from authserver.domain import grants, school_secrets, vendors
from authserver.domain.applications import SchoolStatus, school_statuses
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.grants import AccessRequest, Grant
from authserver.models.organisations import School
from authserver.web.errors import json_error

NO_APPROVED_CONNECTION = "This application has no approved connection there."


def request_document(access_request: AccessRequest) -> responses.AccessRequest:
    """A Data Access Request as the vendor sees it."""
    return responses.AccessRequest(
        id=access_request.id,
        school_id=access_request.school_id,
        school_urn=access_request.school.urn,
        status=str(access_request.status),
        required_scopes=access_request.required_scopes,
        optional_scopes=access_request.optional_scopes,
        created_at=access_request.created_at,
        updated_at=access_request.updated_at,
    )


def _changed_at(status: SchoolStatus) -> dt.datetime:
    moments = [status.since]
    if status.grant is not None:
        moments.append(status.grant.updated_at)
    if status.request is not None:
        moments.append(status.request.updated_at)
    return max(moments)


def connection_document(status: SchoolStatus) -> responses.Connection:
    """One school's connection as the vendor sees it."""
    grant = status.grant if status.grant is not None and status.grant.is_in_force() else None
    return responses.Connection(
        school_id=status.school.id,
        school_urn=status.school.urn,
        school_name=status.school.name,
        status=str(status.status),
        grant_version=grant.version if grant else None,
        scopes=grant.scopes if grant else [],
        restrictions=grant.restrictions if grant else {},
        expires_at=grant.expires_at if grant else None,
        pending_request=request_document(status.request)
        if status.request is not None and status.request.is_pending
        else None,
        updated_at=_changed_at(status),
    )


@bp.post("/access-requests")
@require_token()
def create_access_request() -> Response:
    """Ask a school (by URN) for the application's scopes; idempotent while pending."""
    application = vendor_application()
    body = request.get_json(silent=True)
    urn = body.get("school_urn") if isinstance(body, dict) else None
    if not isinstance(urn, str) or not urn.strip():
        return json_error(400, "invalid_request", 'Send JSON {"school_urn": "<URN>"}.')
    school = db.session.scalar(select(School).where(School.urn == urn.strip()))
    if school is None:
        return json_error(404, "not_found", "No school has that URN.")
    try:
        access_request, created = grants.request_access(application, school, actor=application)
    except grants.NothingToRequest as refusal:
        return json_error(409, "nothing_to_request", str(refusal))
    except grants.SchoolClosed as refusal:
        return json_error(409, "school_closed", f"{refusal}.")
    except vendors.NotVerified as refusal:
        return json_error(403, "unauthorized_client", refusal.description)
    db.session.commit()
    return no_store(model_response(request_document(access_request), 201 if created else 200))


@bp.delete("/access-requests/<int:request_id>")
@require_token()
def withdraw_access_request(request_id: int) -> Response:
    """Withdraw a pending request."""
    application = vendor_application()
    access_request = db.session.get(AccessRequest, request_id)
    if access_request is None or access_request.application_id != application.id:
        return json_error(404, "not_found", "No such request of this application.")
    try:
        grants.withdraw(access_request, by=application)
    except grants.ConsentError as refusal:
        return json_error(409, "conflict", str(refusal))
    db.session.commit()
    return Response(status=204)


@bp.get("/connections")
@require_token()
def list_connections() -> Response:
    """Every school the application asked or was approved by; ?updated_after= for changes."""
    application = vendor_application()
    since = request.args.get("updated_after")
    threshold = parse_moment(since) if since else None
    # Taken before the read; connections change in requests alone, each committed within it.
    skew = dt.timedelta(seconds=current_app.config["SETTINGS"].sync_from_skew_seconds)
    sync_from = utcnow() - skew
    statuses = school_statuses(application)
    body = responses.ConnectionList(
        connections=[
            connection_document(s)
            for s in statuses
            if threshold is None or _changed_at(s) > threshold
        ],
        sync_from=sync_from,
    )
    return no_store(model_response(body))


def _grant_in_force(application_id: int, school_id: int, missing: str) -> Grant:
    """The application's grant at the school, if it is in force; otherwise 404 `missing`."""
    grant = db.session.scalar(
        select(Grant).where(Grant.application_id == application_id, Grant.school_id == school_id)
    )
    if grant is None or not grant.is_in_force():
        abort(json_error(404, "not_found", missing))
    return grant


@bp.delete("/connections/<int:school_id>")
@require_token()
def give_up_connection(school_id: int) -> Response:
    """The application gives up its access to a school: tokens and secrets stop at once."""
    application = vendor_application()
    grant = _grant_in_force(
        application.id, school_id, "This application has no connection to that school."
    )
    grants.give_up(grant, by=application)
    db.session.commit()
    return Response(status=204)


@bp.post("/connections/<int:school_id>/secret")
@require_token()
def claim_school_secret(school_id: int) -> Response:
    """Claim (or rotate) the school secret for an approved connection; shown once."""
    application = vendor_application()
    grant = _grant_in_force(application.id, school_id, NO_APPROVED_CONNECTION)
    try:
        vendors.check_may_take_tokens(application, grant.school)
    except vendors.NotVerified as refusal:
        return json_error(403, "unauthorized_client", refusal.description)
    overlap = current_app.config["SETTINGS"].school_secret_overlap_seconds
    try:
        claimed = school_secrets.claim(grant, application, overlap_seconds=overlap)
    except school_secrets.SecretRefused:
        # The school withdrew while we waited for the grant's lock: there is nothing to claim.
        db.session.rollback()
        return json_error(404, "not_found", NO_APPROVED_CONNECTION)
    db.session.commit()
    body = responses.SchoolSecret(
        school_id=grant.school_id,
        school_secret=claimed.value,
        grant_version=claimed.row.grant_version,
        scope=" ".join(claimed.row.scopes),
        previous_secret_valid_for_seconds=overlap,
    )
    return no_store(model_response(body, 201))
