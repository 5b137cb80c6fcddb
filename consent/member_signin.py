"""Members signing in and out: a pupil, teacher or parent of a school, with the username (or
email) and password their school gave them. The session is kept on the server, begun afresh
at every sign-in, short when idle on a shared device, and ended at sign-out."""

from __future__ import annotations

import datetime as dt
import secrets

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from authserver.domain import audit, member_sessions, members, second_factor
from authserver.domain.audit import AuditAction
from authserver.domain.credentials import hash_password, password_matches
from authserver.extensions import db, limiter
from authserver.models.columns import utcnow
from authserver.models.members import ADMIN_ACCOUNT_METHOD, Member, MemberRole, MemberSession
from authserver.models.organisations import School
from authserver.models.users import User
from consent import factor_checks
from consent.member_forms import AdminSignInForm, MemberSignInForm
from consent.signin import current_session, current_user, safe_next

bp = Blueprint("members", __name__, url_prefix="/members")

#: The Flask session key of a member's server-side session token.
SESSION_KEY = "msid"


def limits() -> member_sessions.Limits:
    settings = current_app.config["SETTINGS"]
    return member_sessions.Limits(
        idle_shared=dt.timedelta(minutes=settings.member_session_idle_minutes_shared),
        idle=dt.timedelta(minutes=settings.member_session_idle_minutes),
        absolute=dt.timedelta(hours=settings.session_absolute_hours),
    )


def current_member_session() -> MemberSession | None:
    """The live member session of this request, if any (looked up once per request)."""
    if "authserver.member_session" not in request.environ:
        token = session.get(SESSION_KEY)
        found = member_sessions.live(db.session, token) if token else None
        request.environ["authserver.member_session"] = found
        if found is not None and member_sessions.touch_due(found):
            request.environ["authserver.member_session_touch"] = found.id
    return request.environ["authserver.member_session"]


def current_member() -> Member | None:
    """The signed-in member of this request, if any."""
    found = current_member_session()
    return found.member if found is not None else None


def begin_member_session(
    member: Member, *, method: str, shared_device: bool, keep: tuple[str, ...] = ()
) -> None:
    """Sign the member in: nothing of the browser's session before survives (but the `keep`
    keys), a new server-side session's token goes in the cookie. The caller commits."""
    kept = {key: session[key] for key in keep if key in session}
    session.clear()
    session.update(kept)
    session[SESSION_KEY] = member_sessions.start(
        db.session, member, limits(), method=method, shared_device=shared_device
    )
    request.environ.pop("authserver.member_session", None)


@bp.after_app_request
def _record_use(response: Response) -> Response:
    """Write a member session's last use once the view is done (as for admins' sessions)."""
    session_id = request.environ.get("authserver.member_session_touch")
    pending = db.session.new or db.session.dirty or db.session.deleted
    if session_id is not None and response.status_code < 400 and not pending:
        try:
            member_sessions.touch(db.session, session_id)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
    return response


def _unknown_member_hash() -> str:
    """A bcrypt hash checked when no member matches, so the time taken says nothing."""
    cached = current_app.extensions.get("unknown_member_hash")
    if cached is None:
        rounds = current_app.config["SETTINGS"].bcrypt_rounds
        cached = current_app.extensions["unknown_member_hash"] = hash_password(
            secrets.token_urlsafe(24), rounds
        )
    return cached


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _member_key() -> str:
    school = (request.form.get("school") or "").strip()[:20]
    login = (request.form.get("login") or "").strip().lower()[:254]
    return f"member-sign-in:{school}:{login}"


def _per_account() -> str:
    return current_app.config["SETTINGS"].sign_in_failures_per_account


def _per_address() -> str:
    return current_app.config["SETTINGS"].sign_in_failures_per_address


def _school_by_urn(urn: str | None) -> School | None:
    urn = (urn or "").strip()
    if not urn.isdigit() or len(urn) > 10:
        return None
    return db.session.scalar(select(School).where(School.urn == urn))


NO_MATCH = "Those details do not match. Check your username and password, or ask your teacher."


@bp.route("/sign-in", methods=["GET", "POST"])
# Only failures count: per member (guessing one pupil's password) and per address. A classroom
# shares one address, so its limit is the address setting, not a member's.
@limiter.limit(_per_account, key_func=_member_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_per_address, methods=["POST"], deduct_when=_failed)
def sign_in() -> str | Response:
    """School, username (or email) and password; the same answer whoever does not match."""
    form = MemberSignInForm()
    if request.method == "GET":
        form.school.data = form.school.data or request.args.get("school", "")
    error = None
    school = _school_by_urn(form.school.data)
    if form.validate_on_submit():
        member = (
            members.find_for_sign_in(db.session, school.id, form.login.data) if school else None
        )
        if member is None or not member.password_hash:
            password_matches(form.password.data, _unknown_member_hash())
            error = NO_MATCH
        elif not password_matches(form.password.data, member.password_hash):
            audit.record(
                AuditAction.MEMBER_SIGN_IN_FAILED,
                actor="member sign-in",
                school=member.school_id,
                member=member.id,
            )
            db.session.commit()
            error = NO_MATCH
        elif (refusal := members.why_not_signing_in(db.session, member, "pwd")) is not None:
            # Only someone who knows the password learns this.
            admin_account = refusal == members.ADMIN_ACCOUNT_NEEDED
            error = (
                refusal
                if admin_account
                else f"{school.name if school else 'Your school'} has not turned on sign-in "
                "for you yet."
            )
        else:
            begin_member_session(member, method="pwd", shared_device=bool(form.shared_device.data))
            audit.record(
                AuditAction.MEMBER_SIGNED_IN,
                actor="member sign-in",
                school=member.school_id,
                member=member.id,
                method="pwd",
            )
            db.session.commit()
            return redirect(safe_member_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template(
        "members/sign_in.html", form=form, error=error, school=school, next=request.args.get("next")
    ), status


def _admin_problem(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def _choose_admin_school(user: User) -> Response | tuple[str, int]:
    """No school named: the one the account looks after, or a choice of them."""
    looked_after = [
        s for s in user.administered_schools() if user.can_manage_for(s) or user.can_approve_for(s)
    ]
    next_path = request.args.get("next")
    if len(looked_after) == 1:
        return redirect(
            url_for("members.admin_sign_in", school=looked_after[0].urn, next=next_path)
        )
    if not looked_after:
        return _admin_problem(
            "Not a school admin",
            "Your account does not look after a school, so it cannot sign you in to a school's "
            "apps. Sign in with the username and password your school gave you.",
            403,
        )
    return render_template(
        "members/admin_choose_school.html", schools=looked_after, next=next_path
    ), 200


@bp.route("/sign-in/admin", methods=["GET", "POST"])
def admin_sign_in() -> str | Response | tuple[str, int]:
    """A member of staff who looks after the school on this service signs in to its apps as a
    school admin: with their admin account, its second factor checked within the step-up
    window, as the staff member their email is in the school's MIS data."""
    school = _school_by_urn(request.args.get("school"))
    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    if school is None:
        return _choose_admin_school(user)
    if not (user.can_manage_for(school) or user.can_approve_for(school)):
        return _admin_problem(
            "Not a school admin here",
            f"Your account does not look after {school.name}, so it cannot sign you in to "
            "its apps. Sign in with the username and password your school gave you.",
            403,
        )
    if MemberRole.SCHOOL_ADMIN not in members.enabled_roles(db.session, school.id):
        return _admin_problem(
            "Not turned on",
            f"{school.name} has not turned on signing in to apps for school admins. It is "
            "turned on with the school's other sign-in settings.",
            403,
        )
    staff = members.admin_staff(db.session, school, user)
    member = members.member_of(db.session, staff) if staff is not None else None
    if staff is None or (member is not None and member.email != user.email.strip().lower()):
        return _admin_problem(
            "We could not find you among the staff",
            f"No one on {school.name}'s staff in its MIS data has the email address "
            f"{user.email} (or more than one has), so we cannot tell apps who you are.",
            404,
        )
    form = AdminSignInForm()
    found = current_session()
    fresh = found is not None and second_factor.is_fresh(
        found.second_factor_at, factor_checks.step_up_window(), utcnow()
    )
    error = None
    if form.validate_on_submit():
        typed = (form.code.data or "").strip()
        if not fresh:
            try:
                verdict = factor_checks.check_code(user, typed) if typed else None
            except factor_checks.TooManyAttempts as refusal:
                db.session.rollback()
                return factor_checks.too_many_page(refusal)
            if verdict is None:
                db.session.commit()  # a wrong code's audit event
                error = factor_checks.WRONG_CODE if typed else "Enter the code your app shows."
            else:
                factor_checks.mark_checked()
        if error is None:
            member = members.admin_member(db.session, staff, user)
            if member.disabled_at is not None:
                db.session.rollback()
                return _admin_problem(
                    "Signing in is turned off for you",
                    f"{school.name} has turned off signing in for you.",
                    403,
                )
            begin_member_session(
                member, method=ADMIN_ACCOUNT_METHOD, shared_device=False, keep=("sid",)
            )
            audit.record(
                AuditAction.MEMBER_SIGNED_IN,
                actor=user,
                school=member.school_id,
                member=member.id,
                method=ADMIN_ACCOUNT_METHOD,
            )
            db.session.commit()
            return redirect(safe_member_next(request.args.get("next")))
    return render_template(
        "members/admin_sign_in.html",
        form=form,
        school=school,
        name=f"{staff.preferred_forename or staff.forename} {staff.surname}",
        fresh=fresh,
        error=error,
    ), (400 if error else 200)


def safe_member_next(target: str | None) -> str:
    """A same-site path to go on to after signing in (the member's home when none)."""
    home = url_for("members.home")
    checked = safe_next(target)
    return checked if target and checked == target else home


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the member's session on the server (CSRFProtect has checked the form's token)."""
    found = current_member_session()
    school = None
    if found is not None:
        member_sessions.end(found, "signed out")
        school = db.session.get(School, found.member.school_id)
        audit.record(
            AuditAction.MEMBER_SIGNED_OUT,
            actor="member sign-in",
            school=found.member.school_id,
            member=found.member_id,
        )
        db.session.commit()
    session.clear()
    return redirect(url_for("members.sign_in", school=school.urn if school else None))
