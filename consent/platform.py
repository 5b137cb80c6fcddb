"""The platform admin's pages: finding an establishment in the DfE register, onboarding it (or
its trust), and adding a school the register does not have, with a reason."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import establishments as register
from authserver.extensions import db
from authserver.models.establishments import Establishment, RegisterTrust
from authserver.models.organisations import School
from consent.forms import ConfirmForm, EstablishmentSearchForm, OutsideRegisterForm
from consent.signin import current_user, signed_in_user
from consent.vendor_forms import sentence

bp = Blueprint("platform", __name__, url_prefix="/platform")

RESULTS_PER_PAGE = 20


@bp.before_request
def _require_platform_admin() -> BaseResponse | None:
    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    if not user.is_platform_admin:
        abort(404)  # as for the platform overview: these pages are not there for anyone else
    return None


def _establishment(urn: str) -> Establishment:
    entry = register.find_establishment(urn)
    if entry is None:
        abort(404)
    return entry


def _register_trust(code: str) -> RegisterTrust:
    trust = register.find_register_trust(code)
    if trust is None:
        abort(404)
    return trust


@bp.get("/establishments")
def search() -> tuple[str, int] | str:
    """Find an establishment in the register by URN or name; results a page at a time."""
    form = EstablishmentSearchForm(request.args)
    if "q" not in request.args:
        return render_template("platform/search.html", form=form, results=None)
    if not form.validate():
        return render_template("platform/search.html", form=form, results=None), 400
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    results = register.search(form.q.data or "", page=number, per_page=RESULTS_PER_PAGE)
    return render_template("platform/search.html", form=form, results=results)


@bp.get("/establishments/<urn>")
def establishment(urn: str) -> str:
    """What the register says of one establishment, and onboarding it."""
    entry = _establishment(urn)
    trust = register.find_register_trust(entry.trust_code) if entry.trust_code else None
    return render_template(
        "platform/establishment.html",
        entry=entry,
        trust=trust,
        school=register.school_of(entry.urn),
        form=ConfirmForm(),
    )


@bp.post("/establishments/<urn>/onboard")
def onboard(urn: str) -> BaseResponse:
    """Make the establishment a school on the platform."""
    entry = _establishment(urn)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        school = register.onboard_school(entry, by=signed_in_user())
    except register.OnboardingRefused as refused:
        db.session.rollback()
        flash(sentence(refused), "error")
        return redirect(url_for("platform.establishment", urn=urn))
    db.session.commit()
    flash(f"{school.name} is now on the platform.", "success")
    return redirect(url_for("platform.school", urn=school.urn))


@bp.get("/trusts/<code>")
def trust(code: str) -> str:
    """A trust in the register, its establishments, and onboarding it with its open schools."""
    register_trust = _register_trust(code)
    entries = register.establishments_of(register_trust)
    return render_template(
        "platform/trust.html",
        trust=register_trust,
        entries=entries,
        onboarded=register.onboarded_urns(entries),
        platform_trust=register.platform_trust_of(register_trust),
        form=ConfirmForm(),
    )


@bp.post("/trusts/<code>/onboard")
def onboard_trust(code: str) -> BaseResponse:
    """Bring the trust onto the platform with all its open schools."""
    register_trust = _register_trust(code)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        done = register.onboard_trust(register_trust, by=signed_in_user())
    except register.OnboardingRefused as refused:
        db.session.rollback()
        flash(sentence(refused), "error")
        return redirect(url_for("platform.trust", code=code))
    db.session.commit()
    added = f"{len(done.added)} school{'s' if len(done.added) != 1 else ''} added"
    flash(f"{done.trust.name} is on the platform: {added}.", "success")
    return redirect(url_for("platform.trust", code=code))


@bp.route("/schools/new", methods=["GET", "POST"])
def new_school() -> BaseResponse | tuple[str, int] | str:
    """Add a school the register does not have; the reason is kept in the audit log."""
    form = OutsideRegisterForm()
    error = None
    if form.validate_on_submit():
        try:
            school = register.add_school_outside_register(
                urn=form.urn.data or "",
                name=form.name.data or "",
                phase=form.phase.data or "",
                reason=form.reason.data or "",
                by=signed_in_user(),
            )
        except register.OnboardingRefused as refused:
            db.session.rollback()
            error = sentence(refused)
        else:
            db.session.commit()
            flash(f"{school.name} is now on the platform.", "success")
            return redirect(url_for("platform.school", urn=school.urn))
    if request.method == "POST":
        return render_template("platform/new_school.html", form=form, error=error), 400
    return render_template("platform/new_school.html", form=form, error=None)


@bp.get("/schools/<urn>")
def school(urn: str) -> str:
    """A school on the platform, as the platform admin sees it (no pupils' data)."""
    found: School | None = register.school_of(urn)
    if found is None:
        abort(404)
    return render_template(
        "platform/school.html", school=found, entry=register.find_establishment(urn)
    )
