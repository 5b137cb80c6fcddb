"""Vendor sign-up: a public page that creates an unverified vendor and its first admin."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import credentials, vendors
from authserver.extensions import db, limiter
from consent.vendor_forms import VendorSignUpForm

bp = Blueprint("vendor_signup", __name__, url_prefix="/vendors")


def _per_address() -> str:
    return current_app.config["SETTINGS"].vendor_sign_ups_per_address


@bp.route("/sign-up", methods=["GET", "POST"])
# Every attempt counts: sign-up creates accounts, and each costs a bcrypt hash.
@limiter.limit(_per_address, methods=["POST"])
def sign_up() -> BaseResponse:
    """The sign-up form; a good one creates the vendor and its admin and says what next."""
    form = VendorSignUpForm()
    if form.validate_on_submit():
        rounds = current_app.config["SETTINGS"].bcrypt_rounds
        admin = vendors.sign_up(
            form.details(),
            admin_name=form.admin_name.data,
            admin_email=form.admin_email.data,
            password=form.password.data,
            password_rounds=rounds,
        )
        if admin is None:
            # The email has an account: nothing is made, and the answer is the same as for a
            # new one (the same work too: a bcrypt hash), so the page reveals nothing.
            credentials.hash_password(secrets.token_urlsafe(24), rounds)
        else:
            # Not signed in here: a session only for new addresses would tell a prober which
            # addresses have accounts. The new admin signs in, and sets up the second factor.
            db.session.commit()
        return redirect(url_for("vendor_signup.signed_up"), code=303)
    status = 400 if form.is_submitted() else 200
    page = Response(render_template("vendor/sign_up.html", form=form), status=status)
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/sign-up/done")
def signed_up() -> str:
    """What happens next, the same whether or not the email already had an account."""
    return render_template("vendor/signed_up.html")
