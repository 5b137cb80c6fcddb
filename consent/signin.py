"""Signing in and out: bcrypt passwords, a fresh session at every sign-in."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from authserver.domain import audit
from authserver.domain.audit import AuditAction
from authserver.domain.credentials import hash_password, password_matches
from authserver.extensions import db, limiter
from authserver.models.columns import utcnow
from authserver.models.users import User
from consent.forms import SignInForm

bp = Blueprint("auth", __name__)


def _unknown_user_hash() -> str:
    """A bcrypt hash to check when the email is unknown, so timing says nothing either."""
    cached = current_app.extensions.get("unknown_user_hash")
    if cached is None:
        rounds = current_app.config["SETTINGS"].bcrypt_rounds
        cached = current_app.extensions["unknown_user_hash"] = hash_password(
            secrets.token_urlsafe(24), rounds
        )
    return cached


def current_user() -> User | None:
    """The signed-in user of this request, if any (looked up once per request)."""
    if "authserver.user" not in request.environ:
        user_id = session.get("user_id")
        user = db.session.get(User, user_id) if user_id else None
        request.environ["authserver.user"] = user if user is not None and user.is_active else None
    return request.environ["authserver.user"]


def signed_in_user() -> User:
    """The signed-in user; a request without one stops here (401)."""
    user = current_user()
    if user is None:
        abort(401)
    return user


@bp.app_context_processor
def _signed_in_user() -> dict[str, User | None]:
    try:
        return {"current_user": current_user()}
    except SQLAlchemyError:
        # Pages (error pages above all) still render when the database is unwell.
        return {"current_user": None}


def safe_next(target: str | None) -> str:
    """Only a same-site path may be returned to after sign-in (no open redirect)."""
    home = url_for("dashboard.home")
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    if "\\" in target:
        return home
    return target


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _account_key() -> str:
    return "sign-in:" + (request.form.get("email") or "").strip().lower()[:254]


def _per_account() -> str:
    return current_app.config["SETTINGS"].sign_in_failures_per_account


def _per_address() -> str:
    return current_app.config["SETTINGS"].sign_in_failures_per_address


@bp.route("/sign-in", methods=["GET", "POST"])
# Only failures count, per account (credential stuffing) and per address (spraying).
@limiter.limit(_per_account, key_func=_account_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_per_address, methods=["POST"], deduct_when=_failed)
def sign_in() -> str | Response:
    """Email and password; the same message whether or not the email exists."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if user is not None and user.is_active and user.check_password(form.password.data):
            # Rotate the session: nothing from before sign-in survives it.
            session.clear()
            session["user_id"] = user.id
            user.last_sign_in_at = utcnow()
            audit.record(AuditAction.USER_SIGNED_IN, actor=user)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        if user is None:
            password_matches(form.password.data, _unknown_user_hash())
        error = "That email address and password do not match an account."
    status = 401 if error else 200
    return render_template("sign_in.html", form=form, error=error), status


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the session (CSRFProtect has checked the form's token)."""
    session.clear()
    return redirect(url_for("consent.index"))
