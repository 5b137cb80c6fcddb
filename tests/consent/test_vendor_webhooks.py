"""The vendor's page: set, change and remove an application's webhook (its signing secret shown
once), see its latest deliveries and replay one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver import webhooks
from authserver.domain import vendors, webhook_outbox
from authserver.domain.audit import AuditAction
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, AuditEvent, Role, WebhookDelivery
from authserver.models.columns import utcnow
from authserver.models.webhooks import WebhookDeliveryStatus
from tests.conftest import make_vendor_row
from tests.oauth_flow import csrf_token, sign_in
from tests.webhook_receiver import connection_data

SECRET_PATTERN = re.compile(r'id="webhook-secret" value="([^"]+)"')
URL = "https://hooks.lunch.example.com/school-data"


@pytest.fixture
def application(vendor_app):
    return vendor_app[0]


def page_token(client, path: str = "/vendor") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def set_url(client, application_id: int, url: str, *, token: str | None = None):
    prefix = f"webhook-{application_id}"
    data = {f"{prefix}-url": url}
    if token != "":
        data[f"{prefix}-csrf_token"] = token or page_token(client)
    return client.post(f"/vendor/applications/{application_id}/webhook", data=data)


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def stored(app, application_id: int) -> Application:
    with app.app_context():
        application = db.session.get(Application, application_id)
        db.session.expunge(application)
        return application


def test_setting_the_webhook_shows_its_secret_once(app, signed_in, application) -> None:
    response = set_url(signed_in, application.id, f" {URL} ")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "It will not be shown again" in html
    secret = SECRET_PATTERN.search(html).group(1)
    assert secret.startswith("whsec_")
    assert URL in html

    with app.app_context():
        saved = db.session.get(Application, application.id)
        assert saved.webhook_url == URL
        assert secret not in saved.webhook_secret_sealed
        assert webhooks.signing_secret(saved) == secret
    assert actions(app)[-1] == AuditAction.WEBHOOK_SET

    listing = signed_in.get("/vendor")
    text = listing.get_data(as_text=True)
    assert URL in text
    assert secret not in text
    assert 'id="webhook-secret"' not in text
    assert "Change the webhook URL of Register Radar" in text
    edit = signed_in.get(f"/vendor/applications/{application.id}/edit")
    assert secret not in edit.get_data(as_text=True)


def test_changing_the_url_issues_a_new_secret(app, signed_in, application) -> None:
    first = SECRET_PATTERN.search(set_url(signed_in, application.id, URL).get_data(True))
    response = set_url(signed_in, application.id, "https://hooks.example.net/new")
    second = SECRET_PATTERN.search(response.get_data(as_text=True))
    assert first.group(1) != second.group(1)
    with app.app_context():
        saved = db.session.get(Application, application.id)
        assert saved.webhook_url == "https://hooks.example.net/new"
        assert webhooks.signing_secret(saved) == second.group(1)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/events", "must use https"),
        ("https://hooks.example.com/a#b", "must not contain a fragment"),
        ("", "Enter the address that should receive the events."),
    ],
)
def test_a_refused_url_is_explained_next_to_the_field(
    app, signed_in, application, url: str, message: str
) -> None:
    response = set_url(signed_in, application.id, url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert f'id="webhook-{application.id}-url-error" role="alert"' in html
    assert 'id="webhook-secret"' not in html
    assert stored(app, application.id).webhook_url is None
    assert AuditAction.WEBHOOK_SET not in actions(app)


def test_removing_the_webhook(app, signed_in, application) -> None:
    set_url(signed_in, application.id, URL)
    response = signed_in.post(
        f"/vendor/applications/{application.id}/webhook/remove",
        data={"csrf_token": page_token(signed_in)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/vendor#application-{application.id}-webhook"
    saved = stored(app, application.id)
    assert saved.webhook_url is None
    assert saved.webhook_secret_sealed is None
    assert actions(app)[-1] == AuditAction.WEBHOOK_REMOVED
    html = signed_in.get("/vendor").get_data(as_text=True)
    assert "Register Radar has no webhook" in html
    assert "Set the webhook URL of Register Radar" in html


@pytest.fixture
def deliveries(app, application):
    """A delivered event and a failing one for the application: (delivered, retrying)."""
    with app.app_context():
        saved = db.session.get(Application, application.id)
        webhooks.set_webhook(saved, URL)
        delivered = webhook_outbox.enqueue(
            saved, WebhookEvent.ACCESS_REQUEST_APPROVED, connection_data(grant_version=1)
        )
        retrying = webhook_outbox.enqueue(
            saved, WebhookEvent.REVOKED, connection_data(grant_version=2)
        )
        now = utcnow()
        delivered.status = WebhookDeliveryStatus.DELIVERED
        delivered.attempts, delivered.last_status_code = 1, 200
        delivered.delivered_at, delivered.next_attempt_at = now, None
        retrying.status = WebhookDeliveryStatus.RETRYING
        retrying.attempts, retrying.last_status_code, retrying.last_error = 2, None, "timed out"
        db.session.commit()
        return (
            (delivered.id, delivered.event_id),
            (retrying.id, retrying.event_id),
        )


def test_deliveries_are_listed_and_can_be_replayed(app, signed_in, application, deliveries) -> None:
    (delivered_id, delivered_event), (_, retrying_event) = deliveries
    html = signed_in.get("/vendor").get_data(as_text=True)
    for expected in (
        "access_request.approved",
        "connection.revoked",
        delivered_event[:16],
        retrying_event[16:],
        "Delivered",
        "Retrying",
        "HTTP 200",
        "timed out",
        f"Replay event {delivered_event}",
    ):
        assert expected in html, expected

    response = signed_in.post(
        f"/vendor/applications/{application.id}/webhook-deliveries/{delivered_id}/replay",
        data={"csrf_token": page_token(signed_in)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/vendor#application-{application.id}-webhook"
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivered_id)
        assert delivery.status == WebhookDeliveryStatus.PENDING
        assert delivery.event_id == delivered_event
        assert delivery.next_attempt_at <= utcnow()
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.action == AuditAction.WEBHOOK_REPLAYED
        assert event.detail["event_id"] == delivered_event
        assert event.detail["previous_status"] == "delivered"
    page = signed_in.get("/vendor").get_data(as_text=True)
    assert f"Event {delivered_event} will be sent again" in page
    assert "Pending" in page


def test_only_the_latest_twenty_deliveries_are_listed(app, signed_in, application) -> None:
    with app.app_context():
        saved = db.session.get(Application, application.id)
        webhooks.set_webhook(saved, URL)
        events = [
            webhook_outbox.enqueue(saved, WebhookEvent.EXPIRED, connection_data(grant_version=n))
            for n in range(22)
        ]
        db.session.commit()
        ids = [event.event_id for event in events]
    html = signed_in.get("/vendor").get_data(as_text=True)
    assert html.count("Replay event ") == 20
    assert f"Replay event {ids[-1]}" in html
    assert f"Replay event {ids[0]}" not in html


def test_every_webhook_form_needs_its_csrf_token(app, signed_in, application, deliveries) -> None:
    (delivered_id, _), _ = deliveries
    base = f"/vendor/applications/{application.id}"
    refused = set_url(signed_in, application.id, "https://other.example.com/", token="")
    assert refused.status_code == 400
    for path in (
        f"{base}/webhook",
        f"{base}/webhook/remove",
        f"{base}/webhook-deliveries/{delivered_id}/replay",
    ):
        assert signed_in.post(path, data={}).status_code == 400, path
        assert signed_in.post(path, data={"csrf_token": "forged"}).status_code == 400, path
    assert stored(app, application.id).webhook_url == URL
    with app.app_context():
        delivery = db.session.get(WebhookDelivery, delivered_id)
        assert delivery.status == WebhookDeliveryStatus.DELIVERED


def test_another_vendor_gets_not_found(app, client, make_user, application, deliveries) -> None:
    (delivered_id, delivered_event), _ = deliveries
    with app.app_context():
        rival = make_vendor_row("Rival Apps Ltd")
        vendors.verify(rival, by="operator (test)")
        db.session.commit()
        db.session.refresh(rival)
        db.session.expunge(rival)
    sign_in(client, make_user(Role.VENDOR_ADMIN, vendor=rival).email)
    listing = client.get("/vendor").get_data(as_text=True)
    assert delivered_event not in listing
    assert URL not in listing
    token = page_token(client)
    base = f"/vendor/applications/{application.id}"
    for path, data in [
        (f"{base}/webhook", {f"webhook-{application.id}-url": "https://evil.example.com/"}),
        (f"{base}/webhook/remove", {}),
        (f"{base}/webhook-deliveries/{delivered_id}/replay", {}),
    ]:
        data = {"csrf_token": token, f"webhook-{application.id}-csrf_token": token, **data}
        assert client.post(path, data=data).status_code == 404, path
    assert stored(app, application.id).webhook_url == URL
    with app.app_context():
        assert db.session.get(WebhookDelivery, delivered_id).status == "delivered"


def test_a_delivery_of_another_application_is_not_found(
    app, signed_in, application, deliveries, make_app
) -> None:
    (delivered_id, _), _ = deliveries
    other, _ = make_app(name="Other App")
    response = signed_in.post(
        f"/vendor/applications/{other.id}/webhook-deliveries/{delivered_id}/replay",
        data={"csrf_token": page_token(signed_in)},
    )
    assert response.status_code == 404
