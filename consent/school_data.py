"""The school's MIS data pages: how data is arriving (sync health and runs), the MIS
connector's credentials, and pausing sync over the year rollover (a school, or a trust)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver import sync_runs
from authserver.domain import connectors, ingest, sync_health
from authserver.extensions import db
from authserver.models.connectors import Connector
from authserver.models.organisations import School, Trust
from authserver.models.users import Role
from consent.forms import ConfirmForm, ConnectorForm, PauseForm, RotateConnectorForm
from consent.signin import current_user, signed_in_user

bp = Blueprint("school_data", __name__)

#: The entities counted on the page: what a school recognises at a glance.
COUNTED = (
    "student",
    "contact",
    "staff",
    "group",
    "class",
    "class_membership",
    "session_mark",
    "behaviour",
    "assessment_result",
)


@bp.before_request
def _require_sign_in() -> BaseResponse | None:
    if current_user() is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    return None


def _school(urn: str) -> School:
    user = signed_in_user()
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None or school.id not in user.administered_school_ids():
        abort(404)
    return school


def _connector_of(school: School, connector_id: int) -> Connector:
    connector = db.session.get(Connector, connector_id)
    if connector is None or connector.school_id != school.id:
        abort(404)
    return connector


def _no_store(body: str) -> Response:
    response = Response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def entity_words(entity: str) -> str:
    """An entity's name as a school says it."""
    return {
        "student": "Pupils",
        "contact": "Contacts (parents and carers)",
        "staff": "Staff",
        "group": "Year and tutor groups",
        "class": "Classes",
        "class_membership": "Class memberships",
        "session_mark": "Register marks",
        "behaviour": "Behaviour events",
        "assessment_result": "Assessment results",
    }.get(entity, entity.replace("_", " ").capitalize())


@bp.get("/schools/<urn>/data")
def overview(urn: str) -> Response:
    """How the school's MIS data is arriving."""
    school = _school(urn)
    health = sync_health.health_of(db.session, school.id)
    return _no_store(
        render_template(
            "dashboard/school_data.html",
            school=school,
            health=health,
            runs=sync_runs.recent_runs(db.session, school.id, limit=15),
            counts=sync_runs.entity_counts(db.session, school.id, COUNTED),
            connectors=connectors.connectors_of(db.session, school.id),
            entity_words=entity_words,
            connector_form=ConnectorForm(),
            rotate_form=RotateConnectorForm(),
            pause_form=PauseForm(),
            form=ConfirmForm(),
            token_url=url_for("oauth.token", _external=True),
            connector_url=url_for("connector.status", _external=True).rsplit("/", 1)[0],
            max_batch=ingest.MAX_BATCH_RECORDS,
        )
    )


@bp.post("/schools/<urn>/data/connectors")
def register_connector(urn: str) -> BaseResponse:
    """Register a connector and show its secret, once."""
    school = _school(urn)
    form = ConnectorForm()
    if not form.validate_on_submit():
        flash("Give the connector a name of up to 200 characters.", "error")
        return redirect(url_for("school_data.overview", urn=urn, _anchor="connectors"))
    try:
        connector, secret = connectors.register(
            db.session, school, form.name.data or "", actor=signed_in_user()
        )
    except connectors.ConnectorError as error:
        flash(str(error), "error")
        return redirect(url_for("school_data.overview", urn=urn, _anchor="connectors"))
    db.session.commit()
    return _secret_page(school, connector, secret, created=True)


@bp.post("/schools/<urn>/data/connectors/<int:connector_id>/rotate")
def rotate_connector(urn: str, connector_id: int) -> BaseResponse:
    """A new secret for the connector, shown once; the old one works for the overlap chosen."""
    school = _school(urn)
    connector = _connector_of(school, connector_id)
    form = RotateConnectorForm()
    if not form.validate_on_submit():
        abort(400)
    hours = int(form.overlap.data or "24")
    try:
        secret = connectors.rotate_secret(
            db.session, connector, actor=signed_in_user(), overlap=dt.timedelta(hours=hours)
        )
    except connectors.ConnectorError as error:
        flash(str(error), "error")
        return redirect(url_for("school_data.overview", urn=urn, _anchor="connectors"))
    db.session.commit()
    return _secret_page(school, connector, secret, created=False, overlap_hours=hours)


def _secret_page(
    school: School, connector: Connector, secret: str, *, created: bool, overlap_hours: int = 0
) -> Response:
    return _no_store(
        render_template(
            "dashboard/connector_secret.html",
            school=school,
            connector=connector,
            secret=secret,
            created=created,
            overlap_hours=overlap_hours,
            token_url=url_for("oauth.token", _external=True),
        )
    )


@bp.post("/schools/<urn>/data/connectors/<int:connector_id>/revoke")
def revoke_connector(urn: str, connector_id: int) -> BaseResponse:
    """End a connector at once."""
    school = _school(urn)
    connector = _connector_of(school, connector_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    connectors.revoke(db.session, connector, actor=signed_in_user())
    db.session.commit()
    flash(f"{connector.name} can no longer send data: its secret and tokens stopped working.")
    return redirect(url_for("school_data.overview", urn=urn, _anchor="connectors"))


@bp.post("/schools/<urn>/data/pause")
def pause(urn: str) -> BaseResponse:
    """Pause the school's sync."""
    school = _school(urn)
    form = PauseForm()
    if not form.validate_on_submit():
        flash("Say why in at most 500 characters.", "error")
        return redirect(url_for("school_data.overview", urn=urn))
    sync_runs.pause(db.session, school.id, by=signed_in_user(), reason=form.reason.data or "")
    db.session.commit()
    flash("Sync is paused. Applications keep the data as it is now until you resume.")
    return redirect(url_for("school_data.overview", urn=urn))


@bp.post("/schools/<urn>/data/resume")
def resume(urn: str) -> BaseResponse:
    """Let the school's data flow again."""
    school = _school(urn)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sync_runs.resume(db.session, school.id, by=signed_in_user())
    db.session.commit()
    flash("Sync has resumed: the MIS connector's next batch will be taken.")
    return redirect(url_for("school_data.overview", urn=urn))


def _trust(trust_id: int) -> Trust:
    user = signed_in_user()
    trust = db.session.get(Trust, trust_id)
    if trust is None or not any(
        a.role == Role.TRUST_ADMIN and a.trust_id == trust_id for a in user.roles
    ):
        abort(404)
    return trust


@bp.post("/trusts/<int:trust_id>/pause")
def pause_trust(trust_id: int) -> BaseResponse:
    """Pause every school of the trust (the year rollover, done once for all)."""
    trust = _trust(trust_id)
    form = PauseForm()
    if not form.validate_on_submit():
        flash("Say why in at most 500 characters.", "error")
        return redirect(url_for("dashboard.schools"))
    for school in trust.schools:
        sync_runs.pause(db.session, school.id, by=signed_in_user(), reason=form.reason.data or "")
    db.session.commit()
    flash(f"Sync is paused at every school of {trust.name}.")
    return redirect(url_for("dashboard.schools"))


@bp.post("/trusts/<int:trust_id>/resume")
def resume_trust(trust_id: int) -> BaseResponse:
    """Resume every school of the trust."""
    trust = _trust(trust_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    for school in trust.schools:
        sync_runs.resume(db.session, school.id, by=signed_in_user())
    db.session.commit()
    flash(f"Sync has resumed at every school of {trust.name}.")
    return redirect(url_for("dashboard.schools"))
