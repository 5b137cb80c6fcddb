"""The members' own pages: the launcher (the apps their school gave them, each opened through
our launch endpoint so that it is audited), a teacher's classes and their apps, an invitation
to choose a password, and magic links for staff and parents."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import credentials, launcher, member_links, members
from authserver.domain.members import MemberRefused, Target
from authserver.extensions import db, limiter
from authserver.models.members import AppAssignment, Member, MemberLinkKind, MemberRole
from authserver.models.mis.structure import TeachingClass
from authserver.models.organisations import School
from consent.forms import ConfirmForm
from consent.launcher_forms import ChoosePasswordForm, ClassAppForm, MagicLinkForm
from consent.member_signin import begin_member_session, current_member
from consent.member_signin import bp as members_bp
from consent.people import link_for

bp = Blueprint("launcher", __name__, url_prefix="/members")


def _no_store(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(title: str, message: str, status: int) -> Response:
    return _no_store(
        render_template(
            "error.html",
            status=status,
            title=title,
            message=message,
            back_url=url_for("members.home"),
            back_text="Go back to your apps",
        ),
        status,
    )


def _sign_in_first() -> BaseResponse:
    return redirect(url_for("members.sign_in", next=request.full_path))


# Registered on the members blueprint so that its endpoint stays members.home, where sign-in
# (and anything else that signs a member in) sends them.
@members_bp.get("/")
def home() -> str | BaseResponse:
    """The launcher: who they are, and the apps their school gave them (per child, for a
    parent), as big links."""
    member = current_member()
    if member is None:
        return _sign_in_first()
    return _no_store(
        render_template(
            "members/home.html",
            member=member,
            name=members.name_of(db.session, member),
            school=db.session.get(School, member.school_id),
            shelves=launcher.shelves(db.session, member),
            teaches=bool(launcher.classes_taught(db.session, member)),
        )
    )


@bp.get("/apps/<int:application_id>/open")
def launch(application_id: int) -> BaseResponse:
    """Open an app from the launcher: to its sign-in start URL (which starts its sign-in with
    us), or its website when it has none; audited. Only apps on the member's launcher."""
    member = current_member()
    if member is None:
        return _sign_in_first()
    application = launcher.launchable(db.session, member, application_id)
    if application is None:
        return _refused(
            "This app is not for you",
            "Your school has not given you this app. Go back to your apps and choose another.",
            404,
        )
    issuer = current_app.config["SETTINGS"].issuer
    target = launcher.launch_url(application, issuer=issuer) or application.website_url
    if not target:
        return _refused(
            f"{application.name} cannot be opened from here",
            f"{application.name} has not told us its web address yet. Ask your teacher.",
            404,
        )
    launcher.record_launch(member, application, went_to=target.split("?", 1)[0])
    db.session.commit()
    return redirect(target, code=303)


# --- A teacher's classes ----------------------------------------------------------------------


def _teacher() -> Member | BaseResponse | Response:
    member = current_member()
    if member is None:
        return _sign_in_first()
    if member.role is not MemberRole.TEACHER:
        return _refused(
            "This page is for teachers",
            "Only teachers can give apps to classes. Go back to your apps.",
            403,
        )
    return member


def _classes_page(member: Member, *, problem: str | None = None, status: int = 200) -> Response:
    classes = launcher.classes_taught(db.session, member)
    connected = launcher.connected_applications(db.session, member.school_id)
    names = {a.id: a.name for a in connected}
    given = {
        taught.id: launcher.assignments_at(db.session, member.school_id, class_id=taught.id)
        for taught in classes
    }
    form = ClassAppForm(formdata=None)
    form.application.choices = [(str(a.id), a.name) for a in connected]
    return _no_store(
        render_template(
            "members/classes.html",
            name=members.name_of(db.session, member),
            classes=classes,
            given=given,
            names=names,
            form=form,
            confirm_form=ConfirmForm(),
            problem=problem,
        ),
        status,
    )


@bp.get("/classes")
def classes() -> BaseResponse:
    """A teacher's classes and the apps each class's pupils have."""
    member = _teacher()
    if not isinstance(member, Member):
        return member
    return _classes_page(member)


def _own_class(member: Member, class_id: int) -> TeachingClass | None:
    for taught in launcher.classes_taught(db.session, member):
        if taught.id == class_id:
            return taught
    return None


def _not_your_class() -> Response:
    return _refused(
        "This is not one of your classes",
        "You can give apps only to the classes you teach.",
        404,
    )


@bp.post("/classes/<int:class_id>/apps")
def give_to_class(class_id: int) -> BaseResponse:
    """Give a connected app to the pupils of one of the teacher's classes."""
    member = _teacher()
    if not isinstance(member, Member):
        return member
    taught = _own_class(member, class_id)
    if taught is None:
        return _not_your_class()
    form = ClassAppForm()
    connected = launcher.connected_applications(db.session, member.school_id)
    form.application.choices = [(str(a.id), a.name) for a in connected]
    if not form.validate_on_submit():
        return _classes_page(member, problem="Choose one of the school's apps.", status=400)
    application = next(a for a in connected if str(a.id) == form.application.data)
    try:
        members.assign(
            db.session,
            member.school_id,
            application,
            Target(MemberRole.STUDENT, class_id=taught.id),
            by=f"teacher (member {member.id})",
        )
    except MemberRefused as refusal:
        db.session.rollback()
        return _classes_page(member, problem=str(refusal), status=400)
    db.session.commit()
    flash(f"Saved: the pupils of {taught.code} now have {application.name}.", "success")
    return redirect(url_for("launcher.classes"))


@bp.post("/classes/<int:class_id>/apps/<int:assignment_id>/remove")
def take_from_class(class_id: int, assignment_id: int) -> BaseResponse:
    """Take an app away from one of the teacher's classes."""
    member = _teacher()
    if not isinstance(member, Member):
        return member
    taught = _own_class(member, class_id)
    assignment = db.session.get(AppAssignment, assignment_id)
    if taught is None or assignment is None or assignment.class_id != taught.id:
        return _not_your_class()
    if not ConfirmForm().validate_on_submit():
        return _classes_page(member, problem="The form had expired: please try again.", status=400)
    members.unassign(db.session, assignment, by=f"teacher (member {member.id})")
    db.session.commit()
    flash(f"Removed the app from {taught.code}.", "success")
    return redirect(url_for("launcher.classes"))


# --- Invitations and magic links --------------------------------------------------------------


def _link_refused() -> Response:
    return _no_store(
        render_template(
            "error.html",
            status=410,
            title="This link cannot be used",
            message=(
                "Links from our emails work once, for a short time. This one has been used, has "
                "expired or is not complete. Ask your school for a new one."
            ),
            back_url=url_for("members.sign_in"),
            back_text="Go to the sign-in page",
        ),
        410,
    )


def _sign_in_with(member: Member, *, method: str) -> BaseResponse:
    # A link opened from an email is on the person's own device, most likely.
    begin_member_session(member, method=method, shared_device=False)
    db.session.commit()
    return redirect(url_for("members.home"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> BaseResponse:
    """Choose a password with the school's emailed invitation, then be signed in."""
    link = member_links.find_link(db.session, token, MemberLinkKind.INVITATION)
    if link is None:
        return _link_refused()
    member = link.member
    school = db.session.get(School, member.school_id)
    form = ChoosePasswordForm()
    if request.method == "POST" and form.validate_on_submit():
        password = form.password.data or ""
        if password != form.confirm.data:
            form.confirm.errors = ["The two passwords differ."]
        elif problem := credentials.password_problem(
            password, about=(member.email or "", members.name_of(db.session, member))
        ):
            form.password.errors = [problem]
        else:
            try:
                member_links.use(db.session, link)
            except member_links.LinkRefused:
                db.session.rollback()
                return _link_refused()
            members.set_password(
                db.session,
                member,
                password,
                rounds=current_app.config["SETTINGS"].bcrypt_rounds,
                by="member",
            )
            refusal = members.why_not_signing_in(db.session, member, "pwd")
            if refusal is not None:
                db.session.commit()
                flash(
                    "Your password is saved. "
                    + (
                        refusal
                        if refusal == members.ADMIN_ACCOUNT_NEEDED
                        else "Your school has not turned on sign-in for you yet."
                    ),
                    "info",
                )
                return redirect(url_for("members.sign_in", school=school.urn if school else None))
            return _sign_in_with(member, method="pwd")
    status = 400 if request.method == "POST" else 200
    return _no_store(
        render_template(
            "members/choose_password.html",
            form=form,
            school=school,
            name=members.name_of(db.session, member),
            login=member.email,
        ),
        status,
    )


def _magic_key() -> str:
    school = (request.form.get("school") or "").strip()[:20]
    return f"member-magic-link:{school}:" + (request.form.get("email") or "").strip().lower()[:254]


def _per_account() -> str:
    return current_app.config["SETTINGS"].password_resets_per_account


def _per_address() -> str:
    return current_app.config["SETTINGS"].password_resets_per_address


@bp.route("/magic-link", methods=["GET", "POST"])
# Every request counts (the answer is always the same), as for password resets.
@limiter.limit(_per_account, key_func=_magic_key, methods=["POST"])
@limiter.limit(_per_address, methods=["POST"])
def ask_for_magic_link() -> Response:
    """Staff and parents: ask for a link to sign in by email; the same answer for any address."""
    form = MagicLinkForm()
    if request.method == "GET":
        form.school.data = form.school.data or request.args.get("school", "")
    if form.validate_on_submit():
        urn = (form.school.data or "").strip()
        school = db.session.scalar(select(School).where(School.urn == urn))
        if school is not None:
            member_links.request_magic_link(
                db.session,
                school,
                form.email.data or "",
                link_for=link_for("launcher.magic_link"),
            )
            db.session.commit()
        return _no_store(render_template("members/magic_link_sent.html", email=form.email.data))
    status = 400 if request.method == "POST" else 200
    return _no_store(render_template("members/magic_link.html", form=form), status)


@bp.route("/magic-link/<token>", methods=["GET", "POST"])
def magic_link(token: str) -> BaseResponse:
    """Sign in with an emailed link. Opening it shows a button: mail scanners that fetch links
    must not spend it."""
    link = member_links.find_link(db.session, token, MemberLinkKind.MAGIC_LINK)
    if link is None:
        return _link_refused()
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _link_refused()
        member = link.member
        if members.why_not_signing_in(db.session, member, "email") is not None:
            return _link_refused()
        try:
            member_links.use(db.session, link)
        except member_links.LinkRefused:
            db.session.rollback()
            return _link_refused()
        # No RFC 8176 value names an emailed link; "email" says what it was.
        return _sign_in_with(member, method="email")
    school = db.session.get(School, link.member.school_id)
    return _no_store(render_template("members/magic_link_confirm.html", form=form, school=school))
