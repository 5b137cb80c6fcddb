"""The vendor's pages: applications, their registration and client secret, and schools asked."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver import receipts, webhooks
from authserver.domain import audit, grants, names, resource_servers, vendors, webhook_outbox
from authserver.domain.applications import (
    RegistrationError,
    register_application,
    school_statuses,
    update_application,
)
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import Scope, UnknownScopeError, default_catalogue
from authserver.extensions import db
from authserver.models.applications import Application, Vendor
from authserver.models.grants import Grant
from authserver.models.organisations import School
from authserver.models.webhooks import WebhookDelivery
from consent.forms import ConfirmForm
from consent.signin import current_user, signed_in_user
from consent.vendor_forms import (
    AUTH_METHOD_CHOICES,
    PURPOSE_FIELD_PREFIX,
    SCOPE_FIELD_PREFIX,
    AccessRequestForm,
    ApplicationForm,
    WebhookForm,
    application_form,
    sentence,
    unlisted_scope_requests,
)

bp = Blueprint("vendor", __name__, url_prefix="/vendor")
log = logging.getLogger("authserver.vendor")

# Registration keys of forms already used in this session, so that posting the same form again
# (a reload of the page showing the secret) does not register a second application.
REGISTERED_KEYS = "vendor.registered"
REMEMBERED_REGISTRATIONS = 10

# The confirmation of a scope removal carries what its check page showed, one value per school.
SHOWN_LOSS = "shown_loss"


@bp.before_request
def _require_vendor_admin() -> BaseResponse | None:
    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    if not user.vendor_ids():
        abort(403)
    return None


def _vendors() -> list[Vendor]:
    ids = signed_in_user().vendor_ids()
    return list(db.session.scalars(select(Vendor).where(Vendor.id.in_(ids)).order_by(Vendor.name)))


def _application(application_id: int) -> Application:
    """An application of a vendor the signed-in user looks after; any other is not found."""
    application = db.session.get(Application, application_id)
    if application is None or application.vendor_id not in signed_in_user().vendor_ids():
        abort(404)
    return application


def _page(template: str, status: int = 200, **context: object) -> BaseResponse:
    """A page of these, never cached: they name clients, schools and sometimes a secret."""
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _access_form(application: Application, **kwargs: object) -> AccessRequestForm:
    # One form per application on the list page: the prefix keeps their ids apart.
    return AccessRequestForm(prefix=f"application-{application.id}", **kwargs)


def _webhook_form(application: Application, **kwargs: object) -> WebhookForm:
    return WebhookForm(prefix=f"webhook-{application.id}", **kwargs)


@bp.get("")
def applications() -> BaseResponse:
    """The vendor's applications and where each stands with every school it has asked."""
    return _applications_page()


def _applications_page(
    failed: AccessRequestForm | None = None,
    failed_id: int | None = None,
    failed_webhook: WebhookForm | None = None,
) -> BaseResponse:
    vendors = _vendors()
    owned = list(
        db.session.scalars(
            select(Application)
            .where(Application.vendor_id.in_([v.id for v in vendors]))
            .order_by(Application.name, Application.id)
        )
    )
    forms = {a.id: _access_form(a, formdata=None) for a in owned}
    if failed is not None and failed_id is not None:
        forms[failed_id] = failed
    webhook_forms = {
        a.id: _webhook_form(a, formdata=None, data={"url": a.webhook_url or ""}) for a in owned
    }
    if failed_webhook is not None and failed_id is not None:
        webhook_forms[failed_id] = failed_webhook
    return _page(
        "vendor/applications.html",
        status=400 if failed is not None or failed_webhook is not None else 200,
        applications=owned,
        vendors=vendors,
        several_vendors=len(vendors) > 1,
        statuses={a.id: school_statuses(a) for a in owned},
        forms=forms,
        webhook_forms=webhook_forms,
        deliveries={a.id: webhook_outbox.latest_deliveries(a) for a in owned},
    )


@bp.post("/applications/<int:application_id>/access-requests")
def request_access(application_id: int) -> BaseResponse:
    """Ask a school, by URN, for the application's scopes (once: asking again changes nothing
    while the school has not answered)."""
    application = _application(application_id)
    form = _access_form(application)
    if form.validate_on_submit():
        urn = form.urn.data.strip()
        school = db.session.scalar(select(School).where(School.urn == urn))
        if school is None:
            form.urn.errors.append(f"No school has the URN {urn}. Check it and try again.")
        elif not application.requested_scopes:
            form.urn.errors.append(
                f"{application.name} asks for no data scopes yet: change its registration first."
            )
        else:
            try:
                access_request, created = grants.request_access(
                    application, school, actor=signed_in_user()
                )
            except (grants.NothingToRequest, grants.SchoolClosed, vendors.NotVerified) as refusal:
                db.session.rollback()
                form.urn.errors.append(sentence(refusal))
            else:
                db.session.commit()
                asked = access_request.created_at.strftime("%d %B %Y")
                if created:
                    flash(f"Asked {school.name} (URN {school.urn}) for access.", "success")
                else:
                    flash(
                        f"{school.name} (URN {school.urn}) has not yet answered the request "
                        f"made on {asked}; it is still waiting.",
                        "info",
                    )
                return redirect(url_for("vendor.applications", _anchor=_anchor(application)))
    return _applications_page(failed=form, failed_id=application.id)


def _anchor(application: Application) -> str:
    return f"application-{application.id}"


def _offered_scopes(application: Application | None = None) -> list[Scope]:
    """The scopes a vendor may ask for, in catalogue order; on an edit, also those the
    application asks for now (a scope deprecated since must be dropped, with a message)."""
    asked = set(application.requested_scopes) if application is not None else set()
    return [
        scope
        for scope in default_catalogue()
        if scope.name in asked or (scope.consent_required and not scope.deprecated)
    ]


def _form_page(
    form: ApplicationForm,
    error: str | None,
    application: Application | None = None,
    status: int | None = None,
) -> BaseResponse:
    grouped: dict[str, list[Scope]] = {}
    for scope in form.scopes:
        grouped.setdefault(scope.category, []).append(scope)
    return _page(
        "vendor/application_form.html",
        status=status or (400 if request.method == "POST" else 200),
        form=form,
        error=error,
        application=application,
        grouped=grouped,
        platform_api=resource_servers.platform_api(current_app.config["SETTINGS"].issuer),
    )


def _already_registered(key: str | None) -> bool:
    return bool(key) and key in session.get(REGISTERED_KEYS, [])


def _remember_registration(key: str | None) -> None:
    if key:
        session[REGISTERED_KEYS] = [*session.get(REGISTERED_KEYS, []), key][
            -REMEMBERED_REGISTRATIONS:
        ]


@bp.route("/applications/new", methods=["GET", "POST"])
def new_application() -> BaseResponse:
    """Register an application; its client secret is shown once, on the answer to this post."""
    vendors = _vendors()
    if request.method == "POST" and _already_registered(request.form.get("registration_key")):
        flash(
            "That application is already registered. Its client secret was shown once: "
            "if you did not copy it, issue a new one.",
            "info",
        )
        return redirect(url_for("vendor.applications"))
    form = application_form(
        _offered_scopes(), vendors=vendors, servers=resource_servers.all_resource_servers()
    )
    if not form.is_submitted():
        form.registration_key.data = secrets.token_urlsafe(16)
    error = None
    if form.validate_on_submit():
        vendor = vendors[0]
        if len(vendors) > 1:
            vendor = next(v for v in vendors if v.id == form["vendor_id"].data)
        issued: dict[str, str | None] = {}

        def register(**fields: Any) -> Application:
            application, issued["secret"] = register_application(vendor, **fields)
            return application

        application, error = _save(form, register, AuditAction.APPLICATION_REGISTERED)
        if application is not None:
            _remember_registration(form.registration_key.data)
            log.info(
                "application %s registered by user %s", application.client_id, signed_in_user().id
            )
            return _page(
                "vendor/credentials.html",
                status=201,
                application=application,
                secret=issued["secret"],
                created=True,
            )
    return _form_page(form, error)


def _save(
    form: ApplicationForm, save: Callable[..., Application], action: AuditAction
) -> tuple[Application | None, str | None]:
    """The one path of registering and editing: the form's registration given to `save` (the
    domain's register or update), audited and committed with it; or the refusal to show."""
    try:
        application = save(
            **form.registration(),
            scopes=form.scope_requests() + unlisted_scope_requests(request.form, form),
        )
    except names.NameRefused as refusal:
        db.session.rollback()
        if refusal.field in form:
            # Beside the input it is about (the summary links to it).
            form[refusal.field].errors = [*form[refusal.field].errors, sentence(refusal)]
            return None, None
        return None, sentence(refusal)
    except (RegistrationError, UnknownScopeError) as refusal:
        db.session.rollback()
        return None, sentence(refusal)
    audit.record(
        action,
        actor=signed_in_user(),
        application=application,
        scopes=application.requested_scopes,
        resource_servers=[server.url for server in application.resource_servers],
    )
    db.session.commit()
    return application, None


def _current_registration(application: Application) -> dict[str, object]:
    data: dict[str, object] = {
        "name": application.name,
        "description": application.description,
        "redirect_uris": "\n".join(application.redirect_uris),
        "post_logout_redirect_uris": "\n".join(application.post_logout_redirect_uris or []),
        "privacy_policy_url": application.privacy_policy_url,
        "terms_url": application.terms_url or "",
        "website_url": application.website_url or "",
        "initiate_login_uri": application.initiate_login_uri or "",
        "token_endpoint_auth_method": application.token_endpoint_auth_method,
        "resource_servers": [server.client_id for server in application.resource_servers],
    }
    for row in application.scope_requests:
        data[SCOPE_FIELD_PREFIX + row.scope] = "required" if row.required else "optional"
        data[PURPOSE_FIELD_PREFIX + row.scope] = row.purpose
    return data


@bp.route("/applications/<int:application_id>/edit", methods=["GET", "POST"])
def edit_application(application_id: int) -> BaseResponse:
    """Change an application's registration; its client secret stays as it is."""
    application = _application(application_id)
    scopes = _offered_scopes(application)
    servers = resource_servers.all_resource_servers()
    if request.method == "POST":
        form = application_form(scopes, servers=servers)
    else:
        form = application_form(scopes, servers=servers, data=_current_registration(application))
    # A confidential client stays confidential and a public one public (the domain refuses it).
    form.token_endpoint_auth_method.choices = [
        choice
        for choice in AUTH_METHOD_CHOICES
        if (choice.value == "none") == application.is_public
    ]
    error = None
    if request.method == "POST" and request.form.get("back"):
        return _form_page(form, None, application, status=200)
    if form.validate_on_submit():
        asked = [
            r.scope for r in form.scope_requests() + unlisted_scope_requests(request.form, form)
        ]
        losses = grants.scope_losses(application, asked)
        confirmed = bool(request.form.get("confirm_removal"))
        changed = None
        if losses and confirmed:
            changed = _losses_changed(application, request.form.getlist(SHOWN_LOSS), losses)
        if losses and (not confirmed or changed):
            # The confirmation holds for the schools it named: one that approved (or changed)
            # since the page was shown must be named before it loses anything.
            return _page(
                "vendor/confirm_scope_removal.html",
                status=409 if changed else 200,
                application=application,
                losses=losses,
                shown=[_loss_key(loss) for loss in losses],
                changed=changed,
                carried=[
                    (name, value)
                    for name, values in request.form.lists()
                    if name not in {"csrf_token", "confirm_removal", "back", "submit", SHOWN_LOSS}
                    for value in values
                ],
                form=form,
            )

        def update(**fields: Any) -> Application:
            saved = update_application(application, **fields)
            for loss in losses:
                if loss.grant.is_in_force():
                    # The school's record of its new version: its decision, less those scopes.
                    receipts.keep(
                        loss.grant,
                        decision=receipts.Decision.SCOPES_NO_LONGER_ASKED,
                        by=application,
                    )
            return saved

        saved, error = _save(form, update, AuditAction.APPLICATION_CHANGED)
        if saved is not None:
            flash(f"Saved the changes to {application.name}.", "success")
            if losses:
                schools = "1 school" if len(losses) == 1 else f"{len(losses)} schools"
                flash(f"{schools} no longer share what you stopped asking for.", "info")
            return redirect(url_for("vendor.applications", _anchor=_anchor(application)))
    return _form_page(form, error, application)


def _loss_key(loss: grants.ScopeLoss) -> str:
    """What the check page showed of one school's loss: its approval's version and the scopes."""
    return f"{loss.grant.id}:{loss.grant.version}:{'+'.join(loss.scopes)}"


def _losses_changed(
    application: Application, shown: list[str], losses: list[grants.ScopeLoss]
) -> str | None:
    """How the schools affected differ from those the check page showed, in a sentence; None
    when they are the same."""
    now = {_loss_key(loss): loss for loss in losses}
    if set(shown) == set(now):
        return None
    shown_ids = {key.split(":")[0] for key in shown}
    now_ids = {str(loss.grant.id) for loss in losses}
    new = [loss.grant.school.name for loss in losses if str(loss.grant.id) not in shown_ids]
    moved = [
        loss.grant.school.name
        for key, loss in now.items()
        if str(loss.grant.id) in shown_ids and key not in shown
    ]
    earlier = (db.session.get(Grant, int(i)) for i in shown_ids - now_ids if i.isdigit())
    gone = [g.school.name for g in earlier if g is not None and g.application_id == application.id]
    parts = [
        *(f"{name} now shares data you no longer ask for" for name in new),
        *(f"{name} changed what it shares" for name in moved),
        *(f"{name} no longer shares it" for name in gone),
    ]
    said = "; ".join(parts) if parts else "the schools affected are not those shown"
    return f"Nothing was saved: this list changed since you checked it ({said}). Check it again."


@bp.route("/applications/<int:application_id>/rotate-secret", methods=["GET", "POST"])
def rotate_secret(application_id: int) -> BaseResponse:
    """Replace the client secret: the old one stops working at once; the new one is shown once."""
    application = _application(application_id)
    if application.is_public:
        abort(400, description=f"{application.name} is a public client: it has no secret.")
    form = ConfirmForm()
    if request.method == "POST" and not form.validate_on_submit():
        abort(400)
    if request.method == "POST":
        secret = application.issue_client_secret()
        audit.record(
            AuditAction.CLIENT_SECRET_ROTATED, actor=signed_in_user(), application=application
        )
        db.session.commit()
        log.info(
            "client secret of %s replaced by user %s", application.client_id, signed_in_user().id
        )
        return _page(
            "vendor/credentials.html", application=application, secret=secret, created=False
        )
    return _page("vendor/rotate_secret.html", application=application, form=form)


# --- Webhooks ------------------------------------------------------------------------------------


def _require_confirmation() -> None:
    """A button that changes something carries the page's CSRF token, or nothing happens."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.post("/applications/<int:application_id>/webhook")
def set_webhook(application_id: int) -> BaseResponse:
    """Send the application's events to a URL; the new signing secret is shown once, on the
    answer to this post (the previous secret stops signing at once)."""
    application = _application(application_id)
    form = _webhook_form(application)
    if form.validate_on_submit():
        try:
            secret = webhooks.set_webhook(application, form.url.data)
        except webhooks.WebhookURLError as refusal:
            db.session.rollback()
            form.url.errors.append(sentence(refusal))
        else:
            audit.record(
                AuditAction.WEBHOOK_SET,
                actor=signed_in_user(),
                application=application,
                url=application.webhook_url,
            )
            db.session.commit()
            log.info("webhook of %s set by user %s", application.client_id, signed_in_user().id)
            return _page("vendor/webhook_secret.html", application=application, secret=secret)
    return _applications_page(failed_webhook=form, failed_id=application.id)


@bp.post("/applications/<int:application_id>/webhook/remove")
def remove_webhook(application_id: int) -> BaseResponse:
    """Stop sending the application's events; undelivered ones are kept for a later URL."""
    application = _application(application_id)
    _require_confirmation()
    if application.webhook_url is not None:
        url = application.webhook_url
        webhooks.remove_webhook(application)
        audit.record(
            AuditAction.WEBHOOK_REMOVED, actor=signed_in_user(), application=application, url=url
        )
        db.session.commit()
        log.info("webhook of %s removed by user %s", application.client_id, signed_in_user().id)
    flash(f"{application.name} has no webhook now: no events are sent.", "success")
    return redirect(url_for("vendor.applications", _anchor=_webhook_anchor(application)))


@bp.post("/applications/<int:application_id>/webhook-deliveries/<int:delivery_id>/replay")
def replay_delivery(application_id: int, delivery_id: int) -> BaseResponse:
    """Send one of the application's events again, with the same event id."""
    application = _application(application_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.application_id != application.id:
        abort(404)
    _require_confirmation()
    previous_status, previous_attempts = str(delivery.status), delivery.attempts
    webhook_outbox.replay(delivery)
    audit.record(
        AuditAction.WEBHOOK_REPLAYED,
        actor=signed_in_user(),
        application=application,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        previous_status=previous_status,
        previous_attempts=previous_attempts,
    )
    db.session.commit()
    if application.webhook_url:
        flash(f"Event {delivery.event_id} will be sent again shortly.", "success")
    else:
        flash(
            f"Event {delivery.event_id} will be sent again once {application.name} has a "
            "webhook URL.",
            "info",
        )
    return redirect(url_for("vendor.applications", _anchor=_webhook_anchor(application)))


def _webhook_anchor(application: Application) -> str:
    return f"application-{application.id}-webhook"
