"""The school's MIS data pages: how data is arriving (sync health and runs), the MIS
connector's credentials, and pausing sync over the year rollover (a school, or a trust)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver import sync_runs
from authserver.domain import connectors, ingest, jobs, sync_health
from authserver.extensions import db
from authserver.mis_files import MAX_FILE_BYTES
from authserver.models.connectors import Connector
from authserver.models.organisations import School, Trust
from authserver.models.sync import SyncKind, SyncRun, SyncState
from authserver.models.users import Role
from consent.forms import (
    ApplyImportForm,
    ConfirmForm,
    ConnectorForm,
    PauseForm,
    RotateConnectorForm,
    UploadForm,
)
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


def _school_to_manage(urn: str) -> School:
    """A school the signed-in user may manage; view-only staff are refused (403)."""
    school = _school(urn)
    if not signed_in_user().can_manage_for(school):
        abort(403)
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
            runs=(runs := sync_runs.recent_runs(db.session, school.id, limit=15)),
            progress={
                run.id: jobs.job_status(run.job_id, school_id=school.id)
                for run in runs
                if run.job_id and run.state in (SyncState.QUEUED, SyncState.RUNNING)
            },
            counts=sync_runs.entity_counts(db.session, school.id, COUNTED),
            connectors=connectors.connectors_of(db.session, school.id),
            can_manage=signed_in_user().can_manage_for(school),
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
    school = _school_to_manage(urn)
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
    school = _school_to_manage(urn)
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
    school = _school_to_manage(urn)
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
    school = _school_to_manage(urn)
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
    school = _school_to_manage(urn)
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
    if not user.can_manage_trust(trust_id):
        abort(403)
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


# Imports -------------------------------------------------------------------------------------


@bp.route("/schools/<urn>/data/import", methods=["GET", "POST"])
def upload(urn: str) -> BaseResponse:
    """Upload a CTF or OneRoster file; it is read and checked, then shown before anything is
    applied."""
    school = _school_to_manage(urn)
    form = UploadForm()
    if request.method == "POST" and form.validate_on_submit():
        upload = form.file.data
        try:
            content = upload.read(MAX_FILE_BYTES + 1)
        finally:
            # A large upload is spooled to a temporary file: let it go now, not at GC.
            upload.close()
        if len(content) > MAX_FILE_BYTES:
            form.file.errors = [f"The file is larger than {MAX_FILE_BYTES // 2**20} MB."]
        elif not content:
            form.file.errors = ["The file is empty."]
        else:
            try:
                run = sync_runs.receive_file(
                    db.session,
                    school.id,
                    upload.filename or "upload",
                    content,
                    actor=signed_in_user(),
                )
            except sync_runs.SyncRefused as refused:
                form.file.errors = [refused.description]
            else:
                return redirect(url_for("school_data.imported", urn=urn, run_id=run.id))
    status = 400 if form.errors else 200
    return Response(
        render_template(
            "dashboard/import_upload.html",
            school=school,
            form=form,
            limit_mb=MAX_FILE_BYTES // 2**20,
        ),
        status=status,
    )


def _import_of(school: School, run_id: int) -> SyncRun:
    run = db.session.get(SyncRun, run_id)
    if run is None or run.school_id != school.id or run.kind is not SyncKind.IMPORT:
        abort(404)
    return run


@bp.get("/schools/<urn>/data/imports/<int:run_id>")
def imported(urn: str, run_id: int) -> Response:
    """An import: being read, waiting for the school's decision (with what it will change),
    being applied, done or failed."""
    school = _school(urn)
    run = _import_of(school, run_id)
    job = jobs.job_status(run.job_id, school_id=school.id) if run.job_id else None
    working = run.state in (SyncState.QUEUED, SyncState.RUNNING)
    preview = run.report.get("preview", {})
    problems = preview.get("problems", [])
    response = _no_store(
        render_template(
            "dashboard/import.html",
            school=school,
            run=run,
            job=job,
            working=working,
            report=run.report,
            preview=preview,
            problems=problems,
            blocking=[p for p in problems if p.get("rule") != "mass_deletion"],
            mass_deletion=[p for p in problems if p.get("rule") == "mass_deletion"],
            form=ApplyImportForm(),
            entity_words=entity_words,
            can_manage=signed_in_user().can_manage_for(school),
        )
    )
    if working:
        # The page follows the work without JavaScript.
        response.headers["Refresh"] = "2"
    return response


@bp.post("/schools/<urn>/data/imports/<int:run_id>/apply")
def apply_import(urn: str, run_id: int) -> BaseResponse:
    """Apply an import the admin has looked at."""
    school = _school_to_manage(urn)
    run = _import_of(school, run_id)
    form = ApplyImportForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        sync_runs.confirm_import(
            db.session,
            run,
            actor=signed_in_user(),
            allow_mass_deletion=bool(form.allow_mass_deletion.data),
        )
    except sync_runs.SyncRefused as refused:
        db.session.rollback()
        flash(refused.description, "error")
    return redirect(url_for("school_data.imported", urn=urn, run_id=run_id))
