"""The school's sign-in pages for its pupils, staff and parents: which roles may sign in, which
connected apps each role, year group or class gets, and the people who can sign in (added
from the MIS, a pupil's password set, a staff member or parent invited by email)."""

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

from authserver.domain import launcher, member_enrolment, member_links, members
from authserver.domain.member_enrolment import Group
from authserver.domain.members import MemberRefused, Target
from authserver.extensions import db
from authserver.models.members import AppAssignment, Member, MemberRole
from authserver.models.mis.structure import TeachingClass
from authserver.models.organisations import School
from consent.forms import ConfirmForm
from consent.launcher_forms import ROLE_WORD, ROLE_WORDS, AssignForm, EnrolForm, SignInRolesForm
from consent.people import link_for
from consent.signin import current_user, signed_in_user

bp = Blueprint("school_sign_in", __name__)

ANY = ""


@bp.before_request
def _require_sign_in() -> BaseResponse | None:
    if current_user() is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    return None


def _school(urn: str) -> School:
    """A school the signed-in admin looks after; any other is simply not found."""
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None or school.id not in signed_in_user().administered_school_ids():
        abort(404)
    return school


def _may_manage(school: School) -> bool:
    return bool(signed_in_user().can_manage_for(school))


def _to_manage(urn: str) -> School:
    school = _school(urn)
    if not _may_manage(school):
        abort(403)
    return school


def _no_store(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def target_in_words(assignment: AppAssignment, classes: dict[int, TeachingClass]) -> str:
    """Whom an assignment is for, as a school admin says it."""
    role = MemberRole(assignment.role)
    who = ROLE_WORDS[role]
    if assignment.class_id is not None:
        taught = classes.get(assignment.class_id)
        return f"{who} in class {taught.code if taught else '(gone)'}"
    if assignment.nc_year is not None:
        if role is MemberRole.PARENT:
            return f"Parents and carers of pupils in Year {assignment.nc_year}"
        return f"{who} in Year {assignment.nc_year}"
    return f"All {who.lower()}"


def _lower_first(words: str) -> str:
    """Words that start a sentence, put inside one ("Pupils in Year 7" -> "pupils in Year 7")."""
    return words[:1].lower() + words[1:]


def _assign_form(school: School, form: AssignForm | None = None) -> AssignForm:
    form = form or AssignForm()
    form.application.choices = [
        (str(a.id), a.name) for a in launcher.connected_applications(db.session, school.id)
    ]
    form.nc_year.choices = [(ANY, "Every year group")] + [
        (y, f"Year {y}") for y in member_enrolment.year_groups(db.session, school.id)
    ]
    form.class_id.choices = [(ANY, "No class: the whole year group or school")] + [
        (str(c.id), f"{c.code} ({c.name})")
        for c in member_enrolment.teaching_classes(db.session, school.id)
    ]
    return form


def _settings_page(
    school: School,
    *,
    assign_form: AssignForm | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    enabled = members.enabled_roles(db.session, school.id)
    roles_form = SignInRolesForm(formdata=None, roles=[str(r) for r in enabled])
    connected = {a.id: a for a in launcher.connected_applications(db.session, school.id)}
    classes = {c.id: c for c in member_enrolment.teaching_classes(db.session, school.id)}
    assignments = launcher.assignments_at(db.session, school.id)
    return _no_store(
        render_template(
            "dashboard/sign_in_settings.html",
            school=school,
            can_manage=_may_manage(school),
            enabled=enabled,
            counts=member_enrolment.role_counts(db.session, school.id),
            role_words=ROLE_WORDS,
            roles_form=roles_form,
            assign_form=_assign_form(school, assign_form),
            assignments=assignments,
            connected=connected,
            in_words=lambda a: target_in_words(a, classes),
            confirm_form=ConfirmForm(),
            problem=problem,
        ),
        status,
    )


@bp.get("/schools/<urn>/sign-in")
def settings(urn: str) -> Response:
    """Who may sign in, and which apps each of them gets."""
    return _settings_page(_school(urn))


@bp.post("/schools/<urn>/sign-in/roles")
def save_roles(urn: str) -> BaseResponse:
    """Turn roles on and off."""
    school = _to_manage(urn)
    form = SignInRolesForm()
    if not form.validate_on_submit():
        return _settings_page(school, problem="Choose who may sign in, then save.", status=400)
    chosen = [MemberRole(r) for r in form.roles.data or []]
    members.set_enabled_roles(db.session, school.id, chosen, by=signed_in_user().email)
    db.session.commit()
    if chosen:
        named = "; ".join(ROLE_WORDS[r].lower() for r in MemberRole if r in chosen)
        flash(f"Saved. Who may sign in: {named}.", "success")
    else:
        flash("Saved: nobody may sign in now.", "success")
    return redirect(url_for("school_sign_in.settings", urn=school.urn))


@bp.post("/schools/<urn>/sign-in/assignments")
def assign(urn: str) -> BaseResponse:
    """Give a connected app to a role, a role in one year group, or one class's pupils."""
    school = _to_manage(urn)
    form = _assign_form(school, AssignForm())
    if not form.validate_on_submit():
        if not form.application.choices:
            return _settings_page(
                school,
                assign_form=form,
                problem="No app is connected to the school yet: approve one first.",
                status=400,
            )
        return _settings_page(school, assign_form=form, status=400)
    role = MemberRole(form.role.data)
    nc_year = form.nc_year.data or None
    class_id = int(form.class_id.data) if form.class_id.data else None
    if nc_year and class_id:
        form.class_id.errors = ["Choose a year group or a class, not both."]
        return _settings_page(school, assign_form=form, status=400)
    if (nc_year or class_id) and role is MemberRole.SCHOOL_ADMIN:
        form.role.errors = ["Give an app to all school admins, not to a year group or class."]
        return _settings_page(school, assign_form=form, status=400)
    if nc_year and role is MemberRole.TEACHER:
        form.nc_year.errors = [
            "Staff are not in a year group: give the app to all staff or a class."
        ]
        return _settings_page(school, assign_form=form, status=400)
    if class_id and role is MemberRole.PARENT:
        form.class_id.errors = ["For parents and carers, choose a year group instead of a class."]
        return _settings_page(school, assign_form=form, status=400)
    application = next(
        a
        for a in launcher.connected_applications(db.session, school.id)
        if str(a.id) == form.application.data
    )
    target = Target(role, nc_year=nc_year, class_id=class_id)
    try:
        assignment = members.assign(
            db.session, school.id, application, target, by=signed_in_user().email
        )
    except MemberRefused as refusal:
        db.session.rollback()
        return _settings_page(school, assign_form=form, problem=str(refusal), status=400)
    classes = {c.id: c for c in member_enrolment.teaching_classes(db.session, school.id)}
    words = target_in_words(assignment, classes)
    db.session.commit()
    flash(f"Saved: {_lower_first(words)} now have {application.name}.", "success")
    return redirect(url_for("school_sign_in.settings", urn=school.urn))


@bp.post("/schools/<urn>/sign-in/assignments/<int:assignment_id>/remove")
def unassign(urn: str, assignment_id: int) -> BaseResponse:
    """Take an app away from whom it was given to."""
    school = _to_manage(urn)
    assignment = db.session.get(AppAssignment, assignment_id)
    if assignment is None or assignment.school_id != school.id:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    classes = {c.id: c for c in member_enrolment.teaching_classes(db.session, school.id)}
    words = target_in_words(assignment, classes)
    name = assignment_name(assignment)
    members.unassign(db.session, assignment, by=signed_in_user().email)
    db.session.commit()
    flash(f"Removed: {_lower_first(words)} no longer have {name}.", "success")
    return redirect(url_for("school_sign_in.settings", urn=school.urn))


def assignment_name(assignment: AppAssignment) -> str:
    from authserver.models.applications import Application

    application = db.session.get(Application, assignment.application_id)
    return application.name if application else "the app"


# --- The people who can sign in ---------------------------------------------------------------


def _enrol_form(school: School, form: EnrolForm | None = None) -> EnrolForm:
    form = form or EnrolForm()
    form.pupil.choices = [(ANY, "Choose a pupil")] + [
        (str(p.id), f"{p.surname}, {p.preferred_forename or p.forename} (Year {p.nc_year or '?'})")
        for p in member_enrolment.pupils_on_roll(db.session, school.id)
    ]
    form.nc_year.choices = [(ANY, "Choose a year group")] + [
        (y, f"Year {y}") for y in member_enrolment.year_groups(db.session, school.id)
    ]
    form.class_id.choices = [(ANY, "Choose a class")] + [
        (str(c.id), f"{c.code} ({c.name})")
        for c in member_enrolment.teaching_classes(db.session, school.id)
    ]
    return form


def _people_page(
    school: School,
    *,
    enrol_form: EnrolForm | None = None,
    issued: tuple[Member, str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    return _no_store(
        render_template(
            "dashboard/sign_in_people.html",
            school=school,
            can_manage=_may_manage(school),
            enrol_form=_enrol_form(school, enrol_form),
            people=member_enrolment.members_of(db.session, school.id),
            invitations=member_links.pending_invitations(db.session, school.id),
            role_word=ROLE_WORD,
            confirm_form=ConfirmForm(),
            issued=issued,
            problem=problem,
        ),
        status,
    )


@bp.get("/schools/<urn>/sign-in/people")
def people(urn: str) -> Response:
    """The school's people who can sign in, and how they get their password."""
    return _people_page(_school(urn))


@bp.post("/schools/<urn>/sign-in/people")
def enrol(urn: str) -> BaseResponse:
    """Add people from the MIS data: one pupil, a year group, a class, all staff, or the
    parents of a year group."""
    school = _to_manage(urn)
    form = _enrol_form(school, EnrolForm())
    if not form.validate_on_submit():
        return _people_page(school, enrol_form=form, status=400)
    group = Group(form.group.data)
    value = {
        Group.PUPIL: form.pupil,
        Group.YEAR: form.nc_year,
        Group.CLASS: form.class_id,
        Group.PARENTS: form.nc_year,
    }.get(group)
    if value is not None and not value.data:
        value.errors = [f"Choose {value.label.text.lower()}."]
        return _people_page(school, enrol_form=form, status=400)
    new, already = member_enrolment.enrol_group(
        db.session,
        school.id,
        group,
        value.data if value is not None else "",
        by=signed_in_user().email,
    )
    db.session.commit()
    people_word = "person" if new == 1 else "people"
    message = f"Added {new} {people_word}."
    if already:
        message += f" {already} could sign in already."
    if new == 0 and already == 0:
        message = "Nobody was found in that group in the MIS data."
    flash(message, "success")
    return redirect(url_for("school_sign_in.people", urn=school.urn))


def _member(school: School, member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or member.school_id != school.id:
        abort(404)
    return member


@bp.post("/schools/<urn>/sign-in/people/<int:member_id>/password")
def set_pupil_password(urn: str, member_id: int) -> BaseResponse:
    """Make a new password for a pupil and show it this once, for the admin to hand over."""
    school = _to_manage(urn)
    member = _member(school, member_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        password = member_enrolment.issue_pupil_password(
            db.session,
            member,
            rounds=current_app.config["SETTINGS"].bcrypt_rounds,
            by=signed_in_user().email,
        )
    except MemberRefused as refusal:
        db.session.rollback()
        return _people_page(school, problem=str(refusal), status=400)
    name = members.name_of(db.session, member)
    db.session.commit()
    return _people_page(school, issued=(member, name, password))


@bp.post("/schools/<urn>/sign-in/people/<int:member_id>/invite")
def invite(urn: str, member_id: int) -> BaseResponse:
    """Email a staff member or parent a link to choose their own password."""
    school = _to_manage(urn)
    member = _member(school, member_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        member_links.invite(
            db.session,
            member,
            by=signed_in_user().email,
            link_for=link_for("launcher.accept_invitation"),
        )
    except member_links.LinkRefused as refusal:
        db.session.rollback()
        return _people_page(school, problem=str(refusal), status=400)
    name = members.name_of(db.session, member)
    db.session.commit()
    flash(
        f"Sent {name} an email to choose a password. The link works once, for "
        f"{member_links.INVITATION_LIFETIME.days} days.",
        "success",
    )
    return redirect(url_for("school_sign_in.people", urn=school.urn))
