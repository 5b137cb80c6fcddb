"""A vendor sees an application's webhook and its deliveries, and sets a new URL, in a browser."""

from __future__ import annotations

from playwright.sync_api import Page

from authserver import webhooks
from authserver.domain import webhook_outbox
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.extensions import db
from authserver.models import Application, Role
from authserver.models.webhooks import WebhookDeliveryStatus
from tests.browser.conftest import sign_in_with_keyboard
from tests.oauth_flow import PASSWORD
from tests.webhook_receiver import connection_data


def test_a_vendor_manages_a_webhook(
    app, page: Page, live_server: str, vendor, make_user, vendor_app, check_accessibility
) -> None:
    application, _ = vendor_app
    with app.app_context():
        saved = db.session.get(Application, application.id)
        webhooks.set_webhook(saved, "https://hooks.example.com/school-data")
        webhook_outbox.enqueue(saved, WebhookEvent.ACCESS_REQUEST_APPROVED, connection_data())
        failing = webhook_outbox.enqueue(saved, WebhookEvent.REVOKED, connection_data())
        failing.status = WebhookDeliveryStatus.RETRYING
        failing.attempts, failing.last_status_code, failing.last_error = 2, 500, "HTTP 500"
        db.session.commit()
    developer = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    page.goto(f"{live_server}/sign-in")
    sign_in_with_keyboard(page, developer.email, PASSWORD)
    page.wait_for_url(lambda url: "/sign-in" not in url)

    page.goto(f"{live_server}/vendor")
    assert page.get_by_role("button", name="Replay event").count() == 2
    assert "connection.revoked" in page.content()
    check_accessibility(page, "vendor-webhooks")

    field = page.get_by_label("Webhook URL")
    field.fill("http://hooks.example.com/plain")
    page.click(f"text=Change the webhook URL of {application.name}")
    assert page.locator("[role=alert]").count() >= 1
    check_accessibility(page, "vendor-webhook-error")

    page.get_by_label("Webhook URL").fill("https://hooks.example.com/v2")
    page.click(f"text=Change the webhook URL of {application.name}")
    assert "It will not be shown again." in page.content()
    assert page.input_value("#webhook-secret").startswith("whsec_")
    check_accessibility(page, "vendor-webhook-secret")
