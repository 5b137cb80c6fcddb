"""The platform admin's resource server pages: register, rotate a secret, remove."""

from __future__ import annotations

import datetime as dt
import logging

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
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import resource_servers
from authserver.extensions import db
from authserver.models.applications import ResourceServer
from consent.forms import ConfirmForm
from consent.resource_server_forms import ResourceServerForm, RotateResourceServerForm
from consent.signin import current_user, signed_in_user
from consent.vendor_forms import sentence

bp = Blueprint("resource_servers", __name__, url_prefix="/platform/resource-servers")
log = logging.getLogger("authserver.resource_servers")


@bp.before_request
def _require_platform_admin() -> BaseResponse | None:
    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    if not user.is_platform_admin:
        abort(404)
    return None


def _page(template: str, status: int = 200, **context: object) -> BaseResponse:
    """A page of these, never cached: they name credentials and sometimes show a secret."""
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _server(client_id: str) -> ResourceServer:
    server = resource_servers.find(client_id)
    if server is None:
        abort(404)
    return server


def _list_page(
    form: ResourceServerForm, error: str | None = None, status: int = 200
) -> BaseResponse:
    issuer = current_app.config["SETTINGS"].issuer
    return _page(
        "platform/resource_servers.html",
        status=status,
        form=form,
        error=error,
        servers=resource_servers.all_resource_servers(),
        platform_api=resource_servers.platform_api(issuer),
    )


@bp.get("")
def index() -> BaseResponse:
    """Every registered resource server, and the form that registers another."""
    return _list_page(ResourceServerForm(formdata=None))


@bp.post("")
def register() -> BaseResponse:
    """Register a resource server; its secret is shown once, on the answer to this post."""
    form = ResourceServerForm()
    if not form.validate_on_submit():
        return _list_page(form, status=400)
    settings = current_app.config["SETTINGS"]
    try:
        server, secret = resource_servers.register(
            form.name.data,
            form.url.data,
            actor=signed_in_user(),
            issuer=settings.issuer,
            allow_loopback_http=not settings.is_production,
        )
    except resource_servers.ResourceServerError as refusal:
        db.session.rollback()
        form.url.errors = [sentence(refusal)]
        return _list_page(form, status=400)
    db.session.commit()
    log.info("resource server %s registered by user %s", server.client_id, signed_in_user().id)
    return _page(
        "platform/resource_server_secret.html",
        status=201,
        server=server,
        secret=secret,
        created=True,
    )


@bp.route("/<client_id>/rotate", methods=["GET", "POST"])
def rotate(client_id: str) -> BaseResponse:
    """Issue a new secret (shown once); the old one ends now or after an hour."""
    server = _server(client_id)
    form = RotateResourceServerForm()
    if form.validate_on_submit():
        overlap = dt.timedelta(minutes=int(form.overlap_minutes.data))
        secret = resource_servers.rotate_secret(server, actor=signed_in_user(), overlap=overlap)
        db.session.commit()
        log.info("resource server %s secret rotated by user %s", client_id, signed_in_user().id)
        return _page(
            "platform/resource_server_secret.html",
            server=server,
            secret=secret,
            created=False,
            overlap_minutes=int(overlap.total_seconds() // 60),
        )
    status = 400 if form.is_submitted() else 200
    return _page("platform/rotate_resource_server.html", status=status, server=server, form=form)


@bp.route("/<client_id>/remove", methods=["GET", "POST"])
def remove(client_id: str) -> BaseResponse:
    """Remove a resource server after a confirmation: its secret stops working at once."""
    server = _server(client_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = server.name
        resource_servers.remove(server, actor=signed_in_user())
        db.session.commit()
        log.info("resource server %s removed by user %s", client_id, signed_in_user().id)
        flash(f"{name} is removed: its secret no longer works.", "success")
        return redirect(url_for("resource_servers.index"))
    status = 400 if form.is_submitted() else 200
    return _page("platform/remove_resource_server.html", status=status, server=server, form=form)
