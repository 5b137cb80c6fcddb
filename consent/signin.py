"""Signing in and out: bcrypt passwords, then the second factor for those who have one, and
sessions kept on the server (the cookie carries only a random token), fresh at every sign-in,
ended at sign-out wherever the cookie went."""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from authserver.domain import audit, people, second_factor, sessions
from authserver.domain.audit import AuditAction
from authserver.domain.credentials import hash_password, new_secret, password_matches
from authserver.domain.mail import NoticeKind, security_notice
from authserver.extensions import db, limiter
from authserver.models.columns import utcnow
from authserver.models.sessions import UserSession
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


def limits() -> sessions.Limits:
    """The session limits from the settings."""
    settings = current_app.config["SETTINGS"]
    return sessions.Limits(
        idle_privileged=dt.timedelta(minutes=settings.session_idle_minutes_privileged),
        idle=dt.timedelta(minutes=settings.session_idle_minutes),
        absolute=dt.timedelta(hours=settings.session_absolute_hours),
    )


def current_session() -> UserSession | None:
    """The live server-side session of this request, if any (looked up once per request),
    whether or not it still awaits the second factor."""
    if "authserver.session" not in request.environ:
        found = sessions.live(db.session, session.get("sid"))
        request.environ["authserver.session"] = found
        request.environ["authserver.awaited"] = (
            second_factor.awaited(found) if found is not None else None
        )
        if found is not None and sessions.touch_due(found):
            request.environ["authserver.session_touch"] = found.id
    return request.environ["authserver.session"]


def awaited() -> second_factor.Awaited | None:
    """What this request's session still needs before its person may do anything."""
    current_session()
    return request.environ.get("authserver.awaited")


def forget_awaited() -> None:
    """Look the session up afresh (its second factor has just been checked, set up or reset)."""
    request.environ.pop("authserver.session", None)
    request.environ.pop("authserver.awaited", None)


def current_user() -> User | None:
    """The signed-in user of this request, if any: the person of a live session that needs
    nothing more (no second factor awaited), whose roles are read afresh on every request (a
    role taken away is gone at once)."""
    found = current_session()
    if found is None or awaited() is not None:
        return None
    return found.user


#: What a person whose session awaits the second factor may still reach.
WHILE_AWAITED = frozenset(
    {"auth.sign_in", "auth.sign_out", "second_factor.set_up", "second_factor.code", "static"}
)
#: Machine endpoints authenticate clients and tokens, never the cookie: nothing to guard.
MACHINE_BLUEPRINTS = frozenset({"oauth", "api", "connector"})


@bp.before_app_request
def _second_factor_first() -> Response | None:
    """Until the second factor is set up (or, once set up, its code typed), a session reaches
    nothing but that and signing out."""
    if request.blueprint in MACHINE_BLUEPRINTS or request.endpoint in (None, *WHILE_AWAITED):
        return None
    if "sid" not in session:
        return None
    step = awaited()
    if step is None:
        return None
    target = request.full_path if request.method == "GET" else None
    endpoint = (
        "second_factor.set_up" if step == second_factor.Awaited.SET_UP else "second_factor.code"
    )
    return redirect(url_for(endpoint, next=safe_next(target) if target else None))


@bp.after_app_request
def _record_use(response: Response) -> Response:
    """Write the session's last use once the view is done. A view commits its own work, so
    after a success nothing of it is pending; after a failure (or with changes somehow left
    pending) the use is not recorded now: the next request records it."""
    session_id = request.environ.get("authserver.session_touch")
    pending = db.session.new or db.session.dirty or db.session.deleted
    if session_id is not None and response.status_code < 400 and not pending:
        try:
            sessions.touch(db.session, session_id)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()  # a busy database: the next request records the use
    return response


def begin_session(user: User) -> None:
    """Sign the person in: a new session (nothing from before survives), its token in the
    cookie. The caller commits."""
    session.clear()
    token = sessions.start(
        db.session,
        user,
        limits(),
        user_agent=request.headers.get("User-Agent"),
        address=request.remote_addr,
    )
    session["sid"] = token
    forget_awaited()


#: A random id this browser keeps for a year: a sign-in from a browser its person has not used
#: before is worth an email to them. Only its digest is stored, per person.
BROWSER_COOKIE = "browser"
BROWSER_COOKIE_DAYS = 400


def remember_browser(user: User, *, notify: bool) -> None:
    """Note this browser for the person; with `notify`, email them if it is new to them. The
    caller commits; the cookie is set on the response."""
    token = request.cookies.get(BROWSER_COOKIE) or ""
    if not (16 <= len(token) <= 100):
        token = new_secret()
    if people.note_browser(db.session, user, token) and notify:
        security_notice(
            user,
            NoticeKind.NEW_SIGN_IN,
            when=utcnow(),
            browser=(request.headers.get("User-Agent") or "an unknown browser")[:200],
            address=request.remote_addr or "an unknown address",
        )
    request.environ["authserver.browser_cookie"] = token


@bp.after_app_request
def _set_browser_cookie(response: Response) -> Response:
    token = request.environ.get("authserver.browser_cookie")
    if token:
        response.set_cookie(
            BROWSER_COOKIE,
            token,
            max_age=BROWSER_COOKIE_DAYS * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response


def signed_in_user() -> User:
    """The signed-in user; a request without one stops here (401)."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def same_for_everyone() -> None:
    """Mark this request's page as the same for every visitor (a public, cached page): its
    templates are told of no signed-in person, so nothing of one can be cached and shown to
    another."""
    g.same_for_everyone = True


@bp.app_context_processor
def _signed_in_user() -> dict[str, object]:
    if g.get("same_for_everyone"):
        return {"current_user": None, "awaiting_second_factor": False}
    try:
        return {"current_user": current_user(), "awaiting_second_factor": awaited() is not None}
    except SQLAlchemyError:
        # Pages (error pages above all) still render when the database is unwell.
        return {"current_user": None, "awaiting_second_factor": False}


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
            begin_session(user)
            # The very first sign-in is not news to anyone; a later one from a new browser is.
            remember_browser(user, notify=user.last_sign_in_at is not None)
            user.last_sign_in_at = utcnow()
            audit.record(AuditAction.USER_SIGNED_IN, actor=user)
            db.session.commit()
            target = safe_next(request.args.get("next"))
            step = awaited()
            if step == second_factor.Awaited.CODE:
                return redirect(url_for("second_factor.code", next=target))
            if step == second_factor.Awaited.SET_UP:
                return redirect(url_for("second_factor.set_up", next=target))
            return redirect(target)
        if user is None:
            password_matches(form.password.data, _unknown_user_hash())
        error = "That email address and password do not match an account."
    status = 401 if error else 200
    return render_template("sign_in.html", form=form, error=error), status


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the session on the server, so a copy of the cookie is worth nothing (CSRFProtect
    has checked the form's token)."""
    found = current_session()
    if found is not None:
        sessions.end(db.session, found, "signed out")
        db.session.commit()
    session.clear()
    return redirect(url_for("consent.index"))
