"""A person's own account: where they are signed in (and ending any of it), their two-step
sign-in, and their password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from authserver.domain import audit, credentials, second_factor, sessions
from authserver.domain.audit import AuditAction
from authserver.domain.mail import NoticeKind, security_notice
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.sessions import UserSession
from consent.forms import ChangePasswordForm, CodeForm, ConfirmForm
from consent.signin import current_session, current_user, signed_in_user

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
def _require_sign_in() -> Response | None:
    if current_user() is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    return None


def _page(form: ChangePasswordForm, status: int = 200) -> tuple[str, int]:
    user = signed_in_user()
    this = current_session()
    return (
        render_template(
            "account.html",
            user=user,
            this_session=this,
            live=sessions.sessions_of(db.session, user.id),
            form=form,
            end_form=ConfirmForm(),
            factor=second_factor.factor_of(user),
            recovery_codes_left=second_factor.recovery_codes_left(user),
            second_factor_required=second_factor.requires_second_factor(user),
            recovery_form=CodeForm(prefix="recovery"),
            reset_form=CodeForm(prefix="reset"),
        ),
        status,
    )


@bp.get("")
def account() -> tuple[str, int]:
    """The person's sessions and a form to change their password."""
    return _page(ChangePasswordForm())


@bp.post("/sessions/<int:session_id>/end")
def end_session(session_id: int) -> Response:
    """End one of the person's own sessions (another browser, a lost phone)."""
    user = signed_in_user()
    found = db.session.get(UserSession, session_id)
    if found is None or found.user_id != user.id or not ConfirmForm().validate_on_submit():
        abort(404)
    sessions.end(db.session, found, "ended by its person")
    db.session.commit()
    this = current_session()
    if this is not None and this.id == session_id:
        return redirect(url_for("consent.index"))
    flash("That session has ended: whoever had it must sign in again.")
    return redirect(url_for("account.account"))


@bp.post("/sessions/end-others")
def end_others() -> Response:
    """End every session of the person but this one."""
    user = signed_in_user()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    this = current_session()
    ended = sessions.end_all(
        db.session, user.id, "ended by its person", keep=this.id if this else None
    )
    db.session.commit()
    flash(f"{ended} other session{'s' if ended != 1 else ''} ended.")
    return redirect(url_for("account.account"))


@bp.post("/password")
def change_password() -> Response | tuple[str, int]:
    """A new password; every other session of the person ends with the old one."""
    user = signed_in_user()
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    if not user.check_password(form.current.data or ""):
        form.current.errors = ["That is not your current password."]
        return _page(form, 400)
    new = form.new.data or ""
    if new != form.confirm.data:
        form.confirm.errors = ["The two new passwords differ."]
        return _page(form, 400)
    problem = credentials.password_problem(new, about=(user.email, user.name))
    if problem:
        form.new.errors = [problem]
        return _page(form, 400)
    from flask import current_app

    user.set_password(new, rounds=current_app.config["SETTINGS"].bcrypt_rounds)
    this = current_session()
    sessions.end_all(db.session, user.id, "password changed", keep=this.id if this else None)
    audit.record(AuditAction.PASSWORD_CHANGED, actor=user)
    security_notice(user, NoticeKind.PASSWORD_CHANGED, when=utcnow(), how="on your account page")
    db.session.commit()
    flash("Your password is changed. Any other place you were signed in has been signed out.")
    return redirect(url_for("account.account"))
