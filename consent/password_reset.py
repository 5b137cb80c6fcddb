"""A forgotten password: ask for a link by email (the answer never says whether the address
has an account), then choose a new password with it (single-use, for an hour)."""

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
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import credentials, people
from authserver.extensions import db, limiter
from consent.people import link_for
from consent.people_forms import ForgotPasswordForm, ResetPasswordForm

bp = Blueprint("password_reset", __name__)


def _account_key() -> str:
    return "password-reset:" + (request.form.get("email") or "").strip().lower()[:254]


def _per_account() -> str:
    return current_app.config["SETTINGS"].password_resets_per_account


def _per_address() -> str:
    return current_app.config["SETTINGS"].password_resets_per_address


def _no_store(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/forgot-password", methods=["GET", "POST"])
# Every request counts (the answer is always the same): per address asked about, per IP.
@limiter.limit(_per_account, key_func=_account_key, methods=["POST"])
@limiter.limit(_per_address, methods=["POST"])
def forgot() -> Response:
    """Ask for a reset link; the same page follows whether or not the email has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        people.request_reset(
            db.session,
            (form.email.data or "").strip(),
            link_for=link_for("password_reset.reset"),
        )
        db.session.commit()
        return _no_store(render_template("forgot_password_sent.html", email=form.email.data))
    status = 400 if request.method == "POST" else 200
    return _no_store(render_template("forgot_password.html", form=form), status)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset(token: str) -> Response | BaseResponse:
    """Choose a new password with an emailed link; every session of the person ends."""
    found = people.find_reset(db.session, token)
    if found is None:
        return _no_store(
            render_template(
                "error.html",
                status=410,
                title="This link cannot be used",
                message=(
                    "Password reset links work once, for an hour. This one has been used, has "
                    "expired or is not complete. Ask for a new one."
                ),
                back_url=url_for("password_reset.forgot"),
                back_text="Ask for a new link",
            ),
            410,
        )
    form = ResetPasswordForm()
    if request.method == "POST" and form.validate_on_submit():
        password = form.password.data or ""
        user = found.user
        if password != form.confirm.data:
            form.confirm.errors = ["The two passwords differ."]
        elif problem := credentials.password_problem(password, about=(user.email, user.name)):
            form.password.errors = [problem]
        else:
            try:
                people.complete_reset(
                    db.session,
                    found,
                    password,
                    password_rounds=current_app.config["SETTINGS"].bcrypt_rounds,
                )
            except people.PeopleError:
                db.session.rollback()
                return redirect(url_for("password_reset.reset", token=token))
            db.session.commit()
            # Signing in again (rather than at once) keeps every sign-in behind one door, where
            # a second factor will be asked for.
            flash("Your password is changed and you are signed out everywhere. Sign in with it.")
            return redirect(url_for("auth.sign_in"))
    status = 400 if request.method == "POST" else 200
    return _no_store(render_template("reset_password.html", form=form), status)
