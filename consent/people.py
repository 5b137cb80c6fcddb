"""The people pages: who works with a school, trust or vendor and what each may do (view,
manage, approve), their invitations, accepting one, and the platform's invitation of a
school's or trust's first admin."""

from __future__ import annotations

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

from authserver.domain import audit, credentials, people
from authserver.domain.audit import AuditAction
from authserver.domain.people import Organisation
from authserver.extensions import db
from authserver.models.applications import Vendor
from authserver.models.columns import utcnow
from authserver.models.organisations import School, Trust
from authserver.models.people import Invitation
from authserver.models.users import Role, RoleAssignment, User
from consent.forms import ConfirmForm
from consent.people_forms import AcceptForm, InviteForm, PlatformInviteForm, RightsForm
from consent.signin import begin_session, current_user, remember_browser, signed_in_user

bp = Blueprint("people", __name__)

PUBLIC_ENDPOINTS = {"people.accept"}


@bp.before_request
def _require_sign_in() -> BaseResponse | None:
    if request.endpoint not in PUBLIC_ENDPOINTS and current_user() is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    return None


def link_for(endpoint: str):  # type: ignore[no-untyped-def]
    """A function making the emailed link to `endpoint` for a token, on the configured issuer
    (never the request's Host header, which a requester controls)."""
    issuer = current_app.config["SETTINGS"].issuer
    return lambda token: issuer + url_for(endpoint, token=token)


def _no_store(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _may_view(user: User, organisation: Organisation) -> bool:
    if organisation.school is not None:
        return organisation.school.id in user.administered_school_ids()
    if organisation.trust is not None:
        trust_id = organisation.trust.id
        return any(a.role == Role.TRUST_ADMIN and a.trust_id == trust_id for a in user.roles)
    if organisation.vendor is not None:
        return organisation.vendor.id in user.vendor_ids()
    return False


def _visible(organisation: Organisation) -> Organisation:
    if not _may_view(signed_in_user(), organisation):
        abort(404)
    return organisation


def people_url(organisation: Organisation) -> str:
    """The people page of an organisation."""
    if organisation.school is not None:
        return url_for("people.school_people", urn=organisation.school.urn)
    if organisation.trust is not None:
        return url_for("people.trust_people", trust_id=organisation.trust.id)
    vendor_id = organisation.vendor.id if organisation.vendor else 0
    return url_for("people.vendor_people", vendor_id=vendor_id)


def _page(
    organisation: Organisation,
    *,
    form: InviteForm | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    user = signed_in_user()
    return _no_store(
        render_template(
            "people.html",
            organisation=organisation,
            school=organisation.school,
            assignments=people.people_of(db.session, organisation),
            invitations=people.invitations_of(db.session, organisation),
            can_manage=people.may_manage(user, organisation),
            can_approve=people.may_approve(user, organisation),
            form=form or InviteForm(),
            confirm_form=ConfirmForm(),
            rights_form=RightsForm(),
            rights_in_words=people.rights_in_words,
            problem=problem,
            now=utcnow(),
            action=people_url(organisation),
        ),
        status,
    )


def _people_page(organisation: Organisation) -> Response | BaseResponse:
    """The people page; a POST invites someone."""
    _visible(organisation)
    form = InviteForm()
    if request.method == "GET":
        return _page(organisation, form=form)
    user = signed_in_user()
    if not people.may_manage(user, organisation):
        return _page(organisation, problem="You may view who works here, not invite.", status=403)
    if not form.validate_on_submit():
        return _page(organisation, form=form, status=400)
    try:
        invitation = people.invite(
            db.session,
            organisation,
            actor=user,
            email=form.email.data or "",
            can_manage=bool(form.can_manage.data),
            can_approve=bool(form.can_approve.data),
            link_for=link_for("people.accept"),
        )
    except people.NotAllowed as refusal:
        db.session.rollback()
        return _page(organisation, form=form, problem=str(refusal), status=403)
    except people.PeopleError as refusal:
        db.session.rollback()
        form.email.errors = [str(refusal)]
        return _page(organisation, form=form, status=400)
    db.session.commit()
    flash(f"Invitation sent to {invitation.email}. It lasts 7 days.", "success")
    return redirect(people_url(organisation))


@bp.route("/schools/<urn>/people", methods=["GET", "POST"])
def school_people(urn: str) -> Response | BaseResponse:
    """Who works with the school, and their invitations."""
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        abort(404)
    return _people_page(Organisation(school=school))


@bp.route("/trusts/<int:trust_id>/people", methods=["GET", "POST"])
def trust_people(trust_id: int) -> Response | BaseResponse:
    """Who works with the trust (across all its schools), and their invitations."""
    trust = db.session.get(Trust, trust_id)
    if trust is None:
        abort(404)
    return _people_page(Organisation(trust=trust))


@bp.route("/vendors/<int:vendor_id>/people", methods=["GET", "POST"])
def vendor_people(vendor_id: int) -> Response | BaseResponse:
    """The vendor's team, and their invitations."""
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        abort(404)
    return _people_page(Organisation(vendor=vendor))


def _assignment(assignment_id: int) -> tuple[RoleAssignment, Organisation]:
    assignment = db.session.get(RoleAssignment, assignment_id)
    if assignment is None or assignment.role == Role.PLATFORM_ADMIN:
        abort(404)
    return assignment, _visible(people.organisation_of(assignment, db.session))


def _refused(organisation: Organisation, refusal: people.PeopleError) -> Response:
    db.session.rollback()
    status = 409 if isinstance(refusal, people.LastApprover) else 403
    return _page(organisation, problem=str(refusal), status=status)


@bp.post("/people/roles/<int:assignment_id>")
def change_rights(assignment_id: int) -> Response | BaseResponse:
    """Change what someone may do, at once."""
    assignment, organisation = _assignment(assignment_id)
    form = RightsForm()
    if not form.validate_on_submit():
        abort(400)
    name = assignment.user.name
    try:
        changed = people.change_rights(
            db.session,
            assignment,
            actor=signed_in_user(),
            can_manage=bool(form.can_manage.data),
            can_approve=bool(form.can_approve.data),
        )
    except people.PeopleError as refusal:
        return _refused(organisation, refusal)
    db.session.commit()
    now_may = people.rights_in_words(assignment.can_manage, assignment.can_approve)
    flash(f"Saved: {name} may now {now_may}." if changed else f"Nothing changed for {name}.")
    return redirect(people_url(organisation))


@bp.post("/people/roles/<int:assignment_id>/remove")
def remove_role(assignment_id: int) -> Response | BaseResponse:
    """Take someone's role away, at once."""
    assignment, organisation = _assignment(assignment_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = assignment.user.name
    itself = assignment.user_id == signed_in_user().id
    try:
        people.remove_role(db.session, assignment, actor=signed_in_user())
    except people.PeopleError as refusal:
        return _refused(organisation, refusal)
    db.session.commit()
    flash(f"{name} no longer works with {organisation.name} here.", "success")
    if itself:
        return redirect(url_for("dashboard.home"))
    return redirect(people_url(organisation))


@bp.post("/people/invitations/<int:invitation_id>/withdraw")
def withdraw(invitation_id: int) -> Response | BaseResponse:
    """Withdraw a waiting invitation: its link stops working."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        abort(404)
    organisation = people.organisation_of(invitation, db.session)
    user = signed_in_user()
    if not user.is_platform_admin:
        _visible(organisation)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        people.withdraw(db.session, invitation, actor=user)
    except people.PeopleError as refusal:
        return _refused(organisation, refusal)
    db.session.commit()
    flash(f"The invitation to {invitation.email} is withdrawn.", "success")
    if user.is_platform_admin and not _may_view(user, organisation):
        return redirect(url_for("people.platform_invite"))
    return redirect(people_url(organisation))


# --- Accepting -------------------------------------------------------------------------------


def _invitation_refused(problem: str, status: int) -> Response:
    return _no_store(
        render_template(
            "error.html",
            status=status,
            title="This invitation cannot be used",
            message=problem,
            back_url=url_for("auth.sign_in"),
            back_text="Go to the sign-in page",
        ),
        status,
    )


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept(token: str) -> Response | BaseResponse:
    """Accept an invitation: a new person chooses their name and password and is signed in;
    someone with an account signs in first, and the role is added to it."""
    invitation = people.find_invitation(db.session, token)
    problem = people.invitation_problem(invitation)
    if invitation is None or problem:
        return _invitation_refused(problem or "", 404 if invitation is None else 410)
    existing = people.account_for(db.session, invitation.email)
    rights = people.rights_in_words(invitation.can_manage, invitation.can_approve)
    if existing is not None:
        return _accept_with_account(invitation, token, rights)
    form = AcceptForm()
    if request.method == "POST" and form.validate_on_submit():
        password = form.password.data or ""
        if password != form.confirm.data:
            form.confirm.errors = ["The two passwords differ."]
        elif problem := credentials.password_problem(
            password, about=(invitation.email, form.name.data or "")
        ):
            form.password.errors = [problem]
        else:
            try:
                user = people.accept_with_new_account(
                    db.session,
                    invitation,
                    name=form.name.data or "",
                    password=password,
                    password_rounds=current_app.config["SETTINGS"].bcrypt_rounds,
                )
            except people.PeopleError as refusal:
                db.session.rollback()
                return _invitation_refused(str(refusal), 409)
            begin_session(user)
            remember_browser(user, notify=False)
            user.last_sign_in_at = utcnow()
            audit.record(AuditAction.USER_SIGNED_IN, actor=user)
            db.session.commit()
            flash(f"Welcome, {user.name}: you now work with {invitation.organisation_name}.")
            return redirect(url_for("dashboard.home"))
    status = 400 if request.method == "POST" else 200
    return _no_store(
        render_template("invitation_accept.html", invitation=invitation, form=form, rights=rights),
        status,
    )


def _accept_with_account(
    invitation: Invitation, token: str, rights: str
) -> Response | BaseResponse:
    user = current_user()
    if user is None:
        flash(f"Sign in as {invitation.email} to accept the invitation.", "info")
        return redirect(url_for("auth.sign_in", next=url_for("people.accept", token=token)))
    form = ConfirmForm()
    mismatch = user.email.strip().lower() != invitation.email
    if request.method == "POST" and not mismatch:
        if not form.validate_on_submit():
            abort(400)
        try:
            people.accept_as(db.session, invitation, user)
        except people.PeopleError as refusal:
            db.session.rollback()
            return _invitation_refused(str(refusal), 409)
        db.session.commit()
        flash(f"You now work with {invitation.organisation_name}.", "success")
        return redirect(url_for("dashboard.home"))
    return _no_store(
        render_template(
            "invitation_existing.html",
            invitation=invitation,
            form=form,
            rights=rights,
            mismatch=mismatch,
            user=user,
        ),
        409 if mismatch else 200,
    )


# --- The platform's invitations --------------------------------------------------------------


@bp.route("/platform/invitations", methods=["GET", "POST"])
def platform_invite() -> Response | BaseResponse:
    """A platform admin invites the first admin of a school or trust (who may then manage and
    approve, and invite their colleagues)."""
    user = signed_in_user()
    if not user.is_platform_admin:
        abort(404)
    # The platform's school and trust pages link here with the organisation filled in.
    form = PlatformInviteForm(
        kind=request.args.get("kind", "school"), organisation=request.args.get("organisation", "")
    )
    problem = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            organisation = _platform_target(form)
            if organisation is None:
                form.organisation.errors = [
                    "There is no school with that URN, or trust with that code."
                ]
            else:
                try:
                    invitation = people.invite(
                        db.session,
                        organisation,
                        actor=user,
                        email=form.email.data or "",
                        can_manage=True,
                        can_approve=True,
                        link_for=link_for("people.accept"),
                    )
                except people.PeopleError as refusal:
                    db.session.rollback()
                    form.email.errors = [str(refusal)]
                else:
                    db.session.commit()
                    flash(
                        f"Invitation sent to {invitation.email} for {organisation.name}.",
                        "success",
                    )
                    return redirect(url_for("people.platform_invite"))
    sent = db.session.scalars(
        select(Invitation)
        .join(User, Invitation.invited_by_id == User.id)
        .where(User.roles.any(RoleAssignment.role == Role.PLATFORM_ADMIN))
        .order_by(Invitation.created_at.desc())
        .limit(50)
    ).all()
    return _no_store(
        render_template(
            "platform_invite.html",
            form=form,
            problem=problem,
            sent=sent,
            now=utcnow(),
            confirm_form=ConfirmForm(),
        ),
        status,
    )


def _platform_target(form: PlatformInviteForm) -> Organisation | None:
    key = (form.organisation.data or "").strip()
    if form.kind.data == "school":
        school = db.session.scalar(select(School).where(School.urn == key))
        return Organisation(school=school) if school else None
    # The register's trust code is what a platform admin has in hand; a trust made before the
    # register (without one) is found by its number on the platform.
    trust = db.session.scalar(select(Trust).where(Trust.code == key))
    if trust is None and key.isascii() and key.isdigit() and len(key) <= 9:
        trust = db.session.get(Trust, int(key))
        if trust is not None and trust.code is not None:
            trust = None
    return Organisation(trust=trust) if trust else None
