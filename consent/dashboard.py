"""The school's dashboard: connected applications, pending requests, history, exposure."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver import receipts
from authserver.domain import field_use, grants, sharing, vendors
from authserver.domain.audiences import audience_of
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.grants import AccessRequest, Grant, GrantReceipt
from authserver.models.organisations import School, Trust
from authserver.models.users import Role
from consent.changes import ChangeScreen, new_change_screen, terms_from
from consent.decisions import (
    DecisionProblem,
    approve_as_decided,
    new_screen,
    scopes_being_approved,
)
from consent.factor_checks import step_up
from consent.forms import ChangeForm, ConfirmForm, DecisionForm, PauseForm
from consent.signin import current_user, signed_in_user
from consent.vendor_forms import sentence

bp = Blueprint("dashboard", __name__)

HISTORY_PAGE_SIZE = 500
T = TypeVar("T")


@bp.before_request
def _require_sign_in() -> BaseResponse | None:
    if current_user() is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    return None


def _school(urn: str) -> School:
    """A school the signed-in user administers; any other is simply not found."""
    user = signed_in_user()
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None or school.id not in user.administered_school_ids():
        abort(404)
    return school


def school_to_manage(urn: str) -> School:
    """A school the signed-in user administers and may manage; view-only staff are refused
    (403), others do not find it (404)."""
    school = _school(urn)
    if not signed_in_user().can_manage_for(school):
        abort(403)
    return school


def _no_store(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/home")
def home() -> BaseResponse:
    """Where a person lands after signing in, by what they do."""
    user = signed_in_user()
    if user.administered_school_ids():
        return redirect(url_for("dashboard.schools"))
    if user.vendor_ids():
        return redirect(url_for("vendor.applications"))
    if user.is_platform_admin:
        return redirect(url_for("dashboard.platform"))
    return redirect(url_for("consent.index"))


@bp.get("/platform")
def platform() -> str:
    """The operator's overview: totals only; schools' data stays with schools."""
    if not signed_in_user().is_platform_admin:
        abort(404)
    return render_template("dashboard/platform.html", totals=sharing.platform_totals())


@bp.get("/schools")
def schools() -> BaseResponse | str:
    """The schools this person looks after; a trust admin sees a summary across them."""
    user = signed_in_user()
    administered = user.administered_schools()
    trust_ids = {a.trust_id for a in user.roles if a.role == Role.TRUST_ADMIN and a.trust_id}
    if len(administered) == 1 and not trust_ids:
        return redirect(url_for("dashboard.school", urn=administered[0].urn))
    trusts = [db.session.get(Trust, trust_id) for trust_id in sorted(trust_ids)]
    summaries = {trust.id: sharing.trust_summary(trust) for trust in trusts}
    return render_template(
        "dashboard/schools.html",
        schools=administered,
        trusts=trusts,
        manages={trust.id for trust in trusts if user.can_manage_trust(trust.id)},
        summaries=summaries,
        form=ConfirmForm(),
        pause_form=PauseForm(),
    )


@bp.get("/schools/<urn>")
def school(urn: str) -> BaseResponse:
    """Connected applications and pending requests of one school."""
    school = _school(urn)
    user = signed_in_user()
    school_grants = sharing.connections_of(school)
    page = render_template(
        "dashboard/school.html",
        school=school,
        grants=school_grants,
        usage=sharing.usage_of(school_grants),
        pending=sharing.pending_requests_of(school),
        audience=audience_of(school.id),
        can_decide=user.can_approve_for(school),
        can_manage=user.can_manage_for(school),
        form=ConfirmForm(),
        ending=grants.ending_soon(school_grants),
        today=utcnow().date(),
        one_day=dt.timedelta(days=1),
        receipts_kept=receipts.versions_of(school_grants),
        privacy_page_url=current_app.config["SETTINGS"].issuer
        + url_for("transparency.privacy_page", urn=school.urn),
    )
    return _no_store(Response(page))


def _grant_of(school: School, grant_id: int) -> Grant:
    """One of the school's grants, or 404 (another school's grant is not found, not refused)."""
    grant = db.session.get(Grant, grant_id)
    if grant is None or grant.school_id != school.id:
        abort(404)
    return grant


@bp.post("/schools/<urn>/connections/<int:grant_id>/revoke")
def revoke(urn: str, grant_id: int) -> BaseResponse:
    """Withdraw an application's access at once."""
    school = _school(urn)
    user = signed_in_user()
    if not (user.can_manage_for(school) or user.can_approve_for(school)):
        abort(403)
    grant = _grant_of(school, grant_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        grants.revoke(grant, by=signed_in_user(), reason="revoked from the school's dashboard")
    except grants.NotAnApprover:
        abort(403)
    db.session.commit()
    flash(f"{grant.application.name} can no longer read {school.name}'s data.", "success")
    return redirect(url_for("dashboard.school", urn=urn))


@bp.post("/schools/<urn>/connections/<int:grant_id>/renew")
def renew(urn: str, grant_id: int) -> BaseResponse:
    """Ask again for an expired or withdrawn connection, and open the consent screen for it."""
    school = _school(urn)
    user = signed_in_user()
    grant = _grant_of(school, grant_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not user.can_approve_for(school):
        abort(403)
    try:
        access_request, _ = grants.request_access(grant.application, school, actor=user)
    except grants.NothingToRequest:
        flash(f"{grant.application.name} is already connected.", "info")
        return redirect(url_for("dashboard.school", urn=urn))
    except grants.SchoolClosed as refusal:
        flash(sentence(refusal), "error")
    except vendors.NotVerified as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        return redirect(url_for("dashboard.school", urn=urn))
    db.session.commit()
    return redirect(url_for("dashboard.review_request", urn=urn, request_id=access_request.id))


@bp.route("/schools/<urn>/requests/<int:request_id>", methods=["GET", "POST"])
def review_request(urn: str, request_id: int) -> BaseResponse | tuple[str, int]:
    """The consent screen for a pending Data Access Request."""
    school = _school(urn)
    user = signed_in_user()
    access_request = db.session.get(AccessRequest, request_id)
    if access_request is None or access_request.school_id != school.id:
        abort(404)
    if not access_request.is_pending:
        flash("That request has already been answered.", "info")
        return redirect(url_for("dashboard.school", urn=urn))
    if not user.can_approve_for(school):
        abort(403)
    application = access_request.application
    grant = grants.find_grant(application, school)
    choice = grants.choice_for_request(access_request, grant)
    form = DecisionForm()
    screen = new_screen(application, school, [school], choice, grant, form)
    form.school.data = school.urn
    if form.validate_on_submit():
        if form.deny.data:
            grants.reject(access_request, by=user)
            db.session.commit()
            flash(f"You refused {application.name}'s request.", "success")
            return redirect(url_for("dashboard.school", urn=urn))
        asked_again = step_up(scopes_being_approved(screen), request.path)
        if asked_again is not None:
            return asked_again
        if approve_as_decided(screen, user, request=access_request) is not None:
            db.session.commit()
            flash(f"{application.name} can now read what you approved.", "success")
            return redirect(url_for("dashboard.school", urn=urn))
    status = 400 if request.method == "POST" else 200
    page = render_template("consent.html", screen=screen, form=form, action=request.path)
    return _no_store(Response(page, status=status))


# The dates a history filter may name: wide enough for any real question, and far enough from
# the calendar's ends that a day's end (the next midnight) can always be computed.
FIRST_FILTER_DAY = dt.date(2000, 1, 1)
LAST_FILTER_DAY = dt.date(2999, 12, 31)
# Ids are INTEGER columns: 32-bit signed on PostgreSQL, which refuses anything larger.
LARGEST_ID = 2**31 - 1


class FilterError(ValueError):
    """A history filter that cannot be used; the message says which and why, for people."""


def _filter_day(name: str, label: str) -> dt.date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise FilterError(
            f"The “{label}” date is not a date we can read: write it as year-month-day, "
            "for example 2026-12-02."
        ) from None
    if not FIRST_FILTER_DAY <= day <= LAST_FILTER_DAY:
        raise FilterError(
            f"The “{label}” date must be between {FIRST_FILTER_DAY:%d %B %Y} and "
            f"{LAST_FILTER_DAY:%d %B %Y}."
        )
    return day


def _filter_application() -> int | None:
    raw = request.args.get("application", "").strip()
    if not raw:
        return None
    # Digits only and a length check before int(): no sign, no huge number parsed.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 0 < int(raw) <= LARGEST_ID:
        raise FilterError("The “Application” filter must be one of the applications listed.")
    return int(raw)


def _history_filters() -> tuple[int | None, dt.date | None, dt.date | None]:
    """The application, since and until of a history query; FilterError naming each that is
    wrong."""
    problems: list[str] = []

    def checked(parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except FilterError as error:
            problems.append(str(error))
            return None

    application_id = checked(_filter_application)
    since = checked(lambda: _filter_day("since", "From"))
    until = checked(lambda: _filter_day("until", "To"))
    if since and until and since > until:
        problems.append("The “From” date is after the “To” date: swap them, or change one.")
    if problems:
        raise FilterError(" ".join(problems))
    return application_id, since, until


def _filter_refused(school: School, error: FilterError) -> BaseResponse:
    page = render_template(
        "error.html",
        status=400,
        title="That history filter cannot be used",
        message=str(error),
        back_url=url_for("dashboard.history", urn=school.urn),
        back_text=f"Show all of {school.name}'s history",
    )
    return _no_store(Response(page, status=400))


@bp.get("/schools/<urn>/history")
def history(urn: str) -> BaseResponse:
    """The school's history: events, with data reads summarised per day and application,
    filterable by application and dates; every event, reads included, as CSV on request."""
    school = _school(urn)
    try:
        application_id, since, until = _history_filters()
    except FilterError as error:
        return _filter_refused(school, error)
    as_csv = request.args.get("format") == "csv"
    if as_csv:
        events = sharing.history_of(school, application_id=application_id, since=since, until=until)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["occurred_at", "action", "actor", "application_id", "detail"])
        for event in events:
            writer.writerow(
                [
                    event.occurred_at.isoformat(),
                    event.action,
                    event.actor,
                    event.application_id or "",
                    json.dumps(event.detail, sort_keys=True),
                ]
            )
        filename = f"history-{school.urn}.csv"
        return _no_store(
            Response(
                buffer.getvalue(),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        )
    applications = sharing.applications_seen_by(school)
    shown = sharing.summarised_history_of(
        school,
        application_id=application_id,
        since=since,
        until=until,
        limit=HISTORY_PAGE_SIZE,
    )
    page = render_template(
        "dashboard/history.html",
        school=school,
        entries=shown.entries,
        is_read_summary=lambda entry: isinstance(entry, field_use.ReadSummary),
        applications=applications,
        names={a.id: a.name for a in applications},
        application_id=application_id,
        since=since,
        until=until,
        truncated=shown.truncated,
    )
    return _no_store(Response(page))


@bp.get("/schools/<urn>/connections/<int:grant_id>/use")
def connection_use(urn: str, grant_id: int) -> BaseResponse:
    """Each detail a connection shares, and how much its application read of it lately."""
    school = _school(urn)
    grant = _grant_of(school, grant_id)
    page = render_template(
        "dashboard/connection_use.html",
        school=school,
        grant=grant,
        use=field_use.use_of(grant, today=dt.datetime.now(dt.UTC).date()),
    )
    return _no_store(Response(page))


@bp.route("/schools/<urn>/connections/<int:grant_id>/change", methods=["GET", "POST"])
def change(urn: str, grant_id: int) -> BaseResponse:
    """Change a connection in place, in two steps: choose, then confirm what changes."""
    # Narrowing is managing the connection; widening it is approving: both rights are needed.
    school = school_to_manage(urn)
    grant = _grant_of(school, grant_id)
    user = signed_in_user()
    if not user.can_approve_for(school):
        abort(403)
    if not grant.is_in_force():
        flash(f"{grant.application.name} is no longer connected: renew it instead.", "info")
        return redirect(url_for("dashboard.school", urn=urn))
    form = ChangeForm()
    screen = new_change_screen(grant, form)
    if request.method == "GET":
        return _change_page(screen)
    if not form.validate_on_submit():
        return _change_page(screen, 400)
    if form.back.data:
        return _change_page(screen)
    try:
        scopes, restrictions, expires_at = terms_from(screen)
        plan = grants.plan_change(
            grant, scopes=scopes, restrictions=restrictions, expires_at=expires_at
        )
        if not form.confirm.data:
            screen.plan = plan
            return _change_page(screen)
        added = [name for name in scopes if name not in grant.scopes]
        asked_again = step_up(added, request.path)
        if asked_again is not None:
            return asked_again
        outcome = grants.change(
            grant, by=user, scopes=scopes, restrictions=restrictions, expires_at=expires_at
        )
    except (grants.ConsentError, DecisionProblem) as refusal:
        db.session.rollback()
        screen.error = str(refusal)
        return _change_page(screen, 400)
    name = grant.application.name
    if outcome.ended:
        db.session.commit()
        flash(
            f"{name} can no longer read {school.name}'s data: the connection has ended.", "success"
        )
    else:
        receipts.keep(grant, decision=receipts.Decision.CHANGED, by=user)
        db.session.commit()
        flash(f"Saved: {name} now has version {grant.version} of your approval.", "success")
    return redirect(url_for("dashboard.school", urn=urn, _anchor=f"grant-{grant.id}"))


def _change_page(screen: ChangeScreen, status: int = 200) -> BaseResponse:
    page = render_template("dashboard/change.html", screen=screen, form=screen.form)
    return _no_store(Response(page, status=status))


def _receipt_download(school: School, grant: Grant, kept: GrantReceipt) -> BaseResponse:
    body = receipts.download(kept)
    db.session.commit()  # a receipt kept unsigned (before #17) keeps its first signature
    filename = f"consent-receipt-{school.urn}-{grant.application.client_id}-v{kept.version}.json"
    return _no_store(
        Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    )


@bp.get("/schools/<urn>/connections/<int:grant_id>/receipt")
def receipt(urn: str, grant_id: int) -> BaseResponse:
    """The signed consent receipt of the grant's latest version, as made at its decision."""
    school = _school(urn)
    grant = _grant_of(school, grant_id)
    kept = receipts.stored(grant, grant.version)
    if kept is None and grant.is_in_force() and grant.approved_by is not None:
        # A version approved before receipts were kept at all: its receipt is made now, from
        # the grant (unchanged since, as a change makes a new version), and says so by its date.
        kept = receipts.keep(grant, decision=receipts.Decision.APPROVED, by=grant.approved_by)
    if kept is None:
        abort(404)
    return _receipt_download(school, grant, kept)


@bp.get("/schools/<urn>/connections/<int:grant_id>/receipts/<int:version>")
def receipt_of_version(urn: str, grant_id: int, version: int) -> BaseResponse:
    """The receipt kept for one version of a grant, exactly as made at that version's decision."""
    school = _school(urn)
    grant = _grant_of(school, grant_id)
    kept = receipts.stored(grant, version)
    if kept is None:
        abort(404)
    return _receipt_download(school, grant, kept)


@bp.get("/schools/<urn>/exposure")
def exposure(urn: str) -> BaseResponse:
    """Everything that leaves the school, scope by scope and sensitive detail by detail."""
    school = _school(urn)
    page = render_template(
        "dashboard/exposure.html", school=school, exposure=sharing.exposure_of(school)
    )
    return _no_store(Response(page))


# The writeback queue's pages register on this blueprint.
from consent import writebacks  # noqa: E402, F401
