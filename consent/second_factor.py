"""Two-step sign-in in the browser: setting up an authenticator app, typing its code after the
password, recovery codes, resetting it from the account page, and a platform admin's reset for
someone who lost their phone."""

from __future__ import annotations

import logging

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from authserver.domain import audit, second_factor, sessions
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models.users import User
from consent.factor_checks import (
    WRONG_CODE,
    TooManyAttempts,
    check_code,
    mark_checked,
    too_many_page,
)
from consent.forms import CodeForm, ResetSomeoneForm, SetUpForm
from consent.signin import awaited, current_session, safe_next, signed_in_user

bp = Blueprint("second_factor", __name__)
log = logging.getLogger("authserver.second_factor")

UNREADABLE = (
    "Codes from your authenticator app cannot be checked at the moment: this server's secret "
    "key has changed since you set the app up. Type one of your recovery codes instead, or ask "
    "a platform admin to reset your second factor; then set up your app again."
)


@bp.app_errorhandler(second_factor.SecondFactorUnreadable)
def _unreadable(error: second_factor.SecondFactorUnreadable) -> tuple[str, int]:
    """A readable page for the person, and for the operator a log line naming the cause."""
    db.session.rollback()
    log.error("%s: was SECRET_KEY changed? Reset the person's second factor.", error)
    page = render_template(
        "error.html",
        status=409,
        title="Your authenticator app's codes cannot be checked",
        message=UNREADABLE,
        back_url=url_for("second_factor.code"),
        back_text="Type a recovery code",
    )
    return page, 409


Page = str | tuple[str, int] | tuple[str, int, dict[str, str]] | Response


def _secret_key() -> str:
    return current_app.config["SECRET_KEY"]


def _session_user() -> User:
    """The person of this request's session, whether or not it still awaits the factor."""
    found = current_session()
    if found is None:
        abort(401)
    return found.user


def _next() -> str:
    return safe_next(request.args.get("next"))


def _no_store(page: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    # Secrets and recovery codes are on these pages: never kept by a cache or the history.
    return page, status, {"Cache-Control": "no-store"}


def _qr_code(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (no script, no request for an image)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", title="QR code for your authenticator app"
    )
    return Markup(svg.replace("<svg ", '<svg role="img" aria-labelledby="qr-caption" ', 1))  # noqa: S704 (segno's own SVG, no user text)


@bp.route("/sign-in/code", methods=["GET", "POST"])
def code() -> Page:
    """After the password: the code from the authenticator app, or a recovery code."""
    found = current_session()
    if found is None:
        return redirect(url_for("auth.sign_in", next=request.args.get("next")))
    if awaited() == second_factor.Awaited.SET_UP:
        return redirect(url_for("second_factor.set_up", next=request.args.get("next")))
    if awaited() is None:
        return redirect(_next())
    form = CodeForm()
    if form.validate_on_submit():
        try:
            verdict = check_code(found.user, form.code.data or "")
        except TooManyAttempts as refusal:
            db.session.rollback()
            return too_many_page(refusal)
        if verdict is not None:
            mark_checked()
            audit.record(AuditAction.SECOND_FACTOR_PASSED, actor=found.user, method=verdict.method)
            db.session.commit()
            if verdict.method == second_factor.Method.RECOVERY_CODE:
                left = verdict.recovery_codes_left
                flash(
                    f"You used a recovery code: {left} left. If your phone is lost, reset your "
                    "authenticator on your account page.",
                    "info",
                )
            return redirect(_next())
        db.session.commit()  # the failure's audit event
        form.code.errors = [WRONG_CODE]
    failed = bool(form.code.errors) or (form.is_submitted() and bool(form.errors))
    page = render_template("second_factor_code.html", form=form)
    return _no_store(page, 401 if failed else 200)


@bp.route("/second-factor/set-up", methods=["GET", "POST"])
def set_up() -> Page:
    """Set up an authenticator app: scan the QR code (or type the secret), then type the code
    it shows; recovery codes follow, shown once."""
    user = _session_user()
    if second_factor.is_enrolled(user):
        if awaited() == second_factor.Awaited.CODE:
            return redirect(url_for("second_factor.code", next=request.args.get("next")))
        return redirect(_next())
    secret = second_factor.begin_set_up(user, secret_key=_secret_key())
    db.session.commit()
    form = SetUpForm()
    if form.validate_on_submit():
        try:
            codes = second_factor.confirm_set_up(
                user, form.code.data or "", secret_key=_secret_key()
            )
        except second_factor.SecondFactorError as refusal:
            db.session.rollback()
            form.code.errors = [str(refusal)]
        else:
            mark_checked()
            db.session.commit()
            return _recovery_codes_page(codes, first_time=True)
    page = render_template(
        "second_factor_set_up.html",
        form=form,
        user=user,
        qr_code=_qr_code(second_factor.provisioning_uri(user, secret)),
        manual_secret=second_factor.manual_entry(secret),
        required=second_factor.requires_second_factor(user),
    )
    return _no_store(page, 400 if form.code.errors else 200)


def _recovery_codes_page(codes: list[str], *, first_time: bool) -> tuple[str, int, dict[str, str]]:
    page = render_template(
        "recovery_codes.html", codes=codes, first_time=first_time, next_url=_next()
    )
    return _no_store(page)


def _checked_or_page(user: User, typed: str, what: str) -> Page | None:
    """None when `typed` proves the person's factor; else the account page says why."""
    try:
        verdict = check_code(user, typed)
    except TooManyAttempts as refusal:
        db.session.rollback()
        return too_many_page(refusal)
    if verdict is None:
        db.session.commit()  # the failure's audit event
        flash(f"{what}: {WRONG_CODE}", "error")
        return redirect(url_for("account.account") + "#second-factor-heading")
    mark_checked()
    return None


@bp.post("/account/second-factor/recovery-codes")
def new_recovery_codes() -> Page:
    """New recovery codes in place of the old ones, once a current code is typed."""
    user = signed_in_user()
    form = CodeForm(prefix="recovery")
    if not form.validate_on_submit():
        flash("New recovery codes: enter the code your authenticator app shows.", "error")
        return redirect(url_for("account.account") + "#second-factor-heading")
    refused = _checked_or_page(user, form.code.data or "", "New recovery codes")
    if refused is not None:
        return refused
    codes = second_factor.regenerate_recovery_codes(user)
    db.session.commit()
    return _recovery_codes_page(codes, first_time=False)


@bp.post("/account/second-factor/reset")
def reset_own() -> Page:
    """Stop using this authenticator (a new phone): set up another at once."""
    user = signed_in_user()
    form = CodeForm(prefix="reset")
    if not form.validate_on_submit():
        flash("Reset your authenticator: enter the code it shows.", "error")
        return redirect(url_for("account.account") + "#second-factor-heading")
    refused = _checked_or_page(user, form.code.data or "", "Reset your authenticator")
    if refused is not None:
        return refused
    second_factor.reset(user, actor=user, reason="reset by its person")
    db.session.commit()
    flash("Your old authenticator no longer works. Set up the new one now.", "info")
    return redirect(url_for("second_factor.set_up", next=url_for("account.account")))


@bp.route("/platform/second-factor-reset", methods=["GET", "POST"])
def reset_someone() -> Page:
    """A platform admin resets a person's second factor (a lost phone): every session of theirs
    ends, and they set up a new authenticator at their next sign-in."""
    admin = signed_in_user()
    if not admin.is_platform_admin:
        abort(404)
    form = ResetSomeoneForm()
    status = 200
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        person = db.session.scalar(select(User).where(func.lower(User.email) == email))
        try:
            verdict = check_code(admin, form.code.data or "")
        except TooManyAttempts as refusal:
            db.session.rollback()
            return too_many_page(refusal)
        if verdict is None:
            db.session.commit()  # the failure's audit event
            form.code.errors = [WRONG_CODE]
        elif person is None:
            db.session.commit()
            form.email.errors = ["No account has that email address."]
        elif person.id == admin.id:
            db.session.commit()
            form.email.errors = ["Reset your own from your account page."]
        elif not second_factor.is_enrolled(person) and second_factor.factor_of(person) is None:
            db.session.commit()
            form.email.errors = [f"{person.email} has no two-step sign-in to reset."]
        else:
            mark_checked()
            second_factor.reset(person, actor=admin, reason=form.reason.data or "")
            sessions.end_all(db.session, person.id, "second factor reset")
            db.session.commit()
            flash(
                f"{person.email} must set up a new authenticator when they next sign in. "
                "They have been signed out everywhere.",
                "success",
            )
            return redirect(url_for("second_factor.reset_someone"))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("second_factor_reset.html", form=form), status
