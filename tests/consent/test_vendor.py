"""The vendor's pages: register and change applications, client secrets shown once, rotation
and the audit of each."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver.domain import vendors
from authserver.extensions import db
from authserver.models import Application, Role
from tests.conftest import make_vendor_row
from tests.consent.vendor_forms import NEW, client_credentials, count, page_token, registration
from tests.oauth_flow import csrf_token, sign_in

SECRET_PATTERN = re.compile(r'id="client-secret" value="([^"]+)"')
CLIENT_ID_PATTERN = re.compile(r'id="client-id" value="([^"]+)"')


def register(client, **overrides):
    """Fill in and post the registration form as a browser would."""
    html = client.get(NEW).get_data(as_text=True)
    key = re.search(r'name="registration_key" type="hidden" value="([^"]*)"', html)
    data = {"csrf_token": csrf_token(html), "registration_key": key.group(1)}
    return client.post(NEW, data={**data, **registration(**overrides)})


def shown_secret(response) -> str:
    return SECRET_PATTERN.search(response.get_data(as_text=True)).group(1)


# --- registering --------------------------------------------------------------------------------


def test_a_registered_applications_secret_is_shown_once_and_works(app, signed_in) -> None:
    response = register(signed_in)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert "It will not be shown again" in html
    secret = shown_secret(response)
    client_id = CLIENT_ID_PATTERN.search(html).group(1)

    token = client_credentials(signed_in, client_id, secret)
    assert token.status_code == 200, token.get_json()

    listing = signed_in.get("/vendor")
    assert listing.status_code == 200
    assert "Lunch Line" in listing.get_data(as_text=True)
    assert client_id in listing.get_data(as_text=True)
    assert secret not in listing.get_data(as_text=True)
    edit = signed_in.get(f"/vendor/applications/{_id(app, client_id)}/edit")
    assert secret not in edit.get_data(as_text=True)
    with app.app_context():
        application = db.session.scalar(
            select(Application).where(Application.client_id == client_id)
        )
        assert application.required_scopes == ["StudentLite"]
        assert application.optional_scopes == ["DietaryNeeds"]
        assert application.purpose_of("DietaryNeeds") == "To warn the kitchen of allergies."
        assert application.redirect_uris == [
            "https://lunch.example.com/callback",
            "http://127.0.0.1:8765/callback",
        ]
        assert application.client_secret_digest != secret


def test_sign_out_return_uris_are_registered_beside_redirect_uris(app, signed_in) -> None:
    response = register(
        signed_in,
        post_logout_redirect_uris="https://lunch.example.com/signed-out\nhttp://127.0.0.1:8765/out",
    )
    assert response.status_code == 201
    client_id = CLIENT_ID_PATTERN.search(response.get_data(as_text=True)).group(1)
    with app.app_context():
        application = db.session.scalar(
            select(Application).where(Application.client_id == client_id)
        )
        assert application.post_logout_redirect_uris == [
            "https://lunch.example.com/signed-out",
            "http://127.0.0.1:8765/out",
        ]
    edit = signed_in.get(f"/vendor/applications/{_id(app, client_id)}/edit")
    assert "https://lunch.example.com/signed-out" in edit.get_data(as_text=True)


def _id(app, client_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Application.id).where(Application.client_id == client_id))


def test_posting_the_registration_again_registers_nothing_more(app, signed_in) -> None:
    html = signed_in.get(NEW).get_data(as_text=True)
    key = re.search(r'name="registration_key" type="hidden" value="([^"]*)"', html).group(1)
    data = {"csrf_token": csrf_token(html), "registration_key": key, **registration()}
    first = signed_in.post(NEW, data=data)
    assert first.status_code == 201
    again = signed_in.post(NEW, data=data)  # the browser's "resubmit the form?"
    assert again.status_code == 302
    assert again.headers["Location"] == "/vendor"
    assert count(app, Application) == 1
    assert shown_secret(first) not in signed_in.get("/vendor").get_data(as_text=True)


def test_a_public_client_gets_no_secret(app, signed_in) -> None:
    response = register(signed_in, token_endpoint_auth_method="none")
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    assert 'id="client-secret"' not in html
    assert "public client" in html
    application_id = _id(app, CLIENT_ID_PATTERN.search(html).group(1))
    assert "Issue a new client secret" not in signed_in.get("/vendor").get_data(as_text=True)
    refused = signed_in.post(
        f"/vendor/applications/{application_id}/rotate-secret",
        data={"csrf_token": page_token(signed_in)},
    )
    assert refused.status_code == 400
    assert "public client" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"redirect_uris": "http://lunch.example.com/callback"}, "must use https"),
        ({"redirect_uris": "https://lunch.example.com/cb#frag"}, "must not contain a fragment"),
        ({"redirect_uris": "   "}, "Enter at least one redirect URI"),
        ({"post_logout_redirect_uris": "http://lunch.example.com/out"}, "must use https"),
        (
            {"privacy_policy_url": "http://lunch.example.com/p"},
            "The privacy policy must be an https",
        ),
        ({"terms_url": "javascript:alert(1)"}, "The terms of use must be an https URL"),
        (
            {"scope_NoSuchScope": "required", "purpose_NoSuchScope": "Because."},
            "Unknown scope(s): NoSuchScope",
        ),
        (
            {"scope_EmergeViaXod": "optional", "purpose_EmergeViaXod": "Legacy sync."},
            "EmergeViaXod is deprecated and cannot be requested",
        ),
        (
            {"scope_PublicSchoolData": "required", "purpose_PublicSchoolData": "Name."},
            "PublicSchoolData is always shared and needs no request",
        ),
        ({"purpose_StudentLite": "  "}, "Say why the application needs StudentLite"),
        ({"name": ""}, "Enter the application&#39;s name"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "Not a valid choice"),
    ],
)
def test_bad_registrations_are_refused_with_the_reason(app, signed_in, overrides, message) -> None:
    response = register(signed_in, **overrides)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'role="alert"' in html
    assert count(app, Application) == 0


def test_an_error_is_tied_to_its_input(signed_in) -> None:
    html = register(signed_in, redirect_uris="http://lunch.example.com/cb").get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*name=\"redirect_uris\"[^>]*>", html).group(0)
    assert 'aria-describedby="redirect_uris-hint redirect_uris-error"' in textarea
    assert 'aria-invalid="true"' in textarea
    assert 'id="redirect_uris-error"' in html
    purpose = register(signed_in, purpose_StudentLite="").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="purpose_StudentLite"[^>]*>', purpose).group(0)
    assert 'aria-describedby="purpose_StudentLite-error"' in field


def test_every_input_of_the_form_has_a_label(signed_in) -> None:
    html = signed_in.get(NEW).get_data(as_text=True)
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for control in controls:
        if 'type="hidden"' in control or 'type="submit"' in control:
            continue
        if "Sign out" in control:
            continue
        assert re.search(r'id="([^"]+)"', control).group(1) in labelled, control
    # Deprecated and always-shared scopes are not offered; the rest are, by category.
    assert 'name="scope_EmergeViaXod"' not in html
    assert 'name="scope_PublicSchoolData"' not in html
    assert "<legend>Students</legend>" in html
    assert "style=" not in html
    assert "<script" not in html


def test_someone_with_several_vendors_chooses_one(app, client, vendor, make_user) -> None:
    from authserver.models import RoleAssignment, User

    admin = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    with app.app_context():
        second = make_vendor_row("Second Ltd")
        vendors.verify(second, by="operator (test)")
        second_id = second.id
        user = db.session.get(User, admin.id)
        user.roles.append(RoleAssignment(role=Role.VENDOR_ADMIN, vendor_id=second_id))
        db.session.commit()
    sign_in(client, admin.email)
    html = client.get(NEW).get_data(as_text=True)
    assert '<label for="vendor_id">Vendor</label>' in html
    response = register(client, vendor_id=str(second_id))
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(Application.vendor_id)) == second_id
    assert register(client, vendor_id="999999").status_code == 400


# --- changing a registration --------------------------------------------------------------------


def test_editing_changes_the_scopes_and_keeps_the_secret(app, signed_in, make_app) -> None:
    application, secret = make_app()
    path = f"/vendor/applications/{application.id}/edit"
    page = signed_in.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "To analyse attendance." in html  # the form starts from the registration
    data = {
        "csrf_token": csrf_token(html),
        **registration(
            name="Register Radar 2",
            redirect_uris="https://app.example.com/callback",
            # Attendance dropped; Contact turned required; StudentLite optional; DietaryNeeds kept.
            scope_StudentLite="optional",
            purpose_StudentLite="Names, if the school agrees.",
            scope_Contact="required",
            purpose_Contact="To phone parents.",
            scope_DietaryNeeds="optional",
            purpose_DietaryNeeds="Allergies.",
        ),
    }
    response = signed_in.post(path, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        changed = db.session.get(Application, application.id)
        assert changed.name == "Register Radar 2"
        assert changed.required_scopes == ["Contact"]
        assert changed.optional_scopes == ["DietaryNeeds", "StudentLite"]
        assert changed.purpose_of("StudentLite") == "Names, if the school agrees."
        assert changed.client_secret_digest == application.client_secret_digest
    assert client_credentials(signed_in, application.client_id, secret).status_code == 200


def test_an_edit_with_a_bad_field_changes_nothing(app, signed_in, make_app) -> None:
    application, _ = make_app()
    path = f"/vendor/applications/{application.id}/edit"
    data = {
        "csrf_token": page_token(signed_in, path),
        **registration(redirect_uris="https://app.example.com/cb#x"),
    }
    response = signed_in.post(path, data=data)
    assert response.status_code == 400
    assert "must not contain a fragment" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Application, application.id).name == "Register Radar"


def test_a_confidential_client_cannot_turn_public(app, signed_in, make_app) -> None:
    application, _ = make_app()
    path = f"/vendor/applications/{application.id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    assert 'value="none"' not in re.search(r"<fieldset class=\"field.*?</fieldset>", html, re.S)[0]
    data = {"csrf_token": csrf_token(html), **registration(token_endpoint_auth_method="none")}
    response = signed_in.post(path, data=data)
    assert response.status_code == 400
    with app.app_context():
        assert not db.session.get(Application, application.id).is_public


def test_a_scope_deprecated_since_must_be_dropped_on_edit(app, signed_in, make_app) -> None:
    from authserver.models import ApplicationScope

    application, _ = make_app()
    with app.app_context():
        db.session.add(
            ApplicationScope(
                application_id=application.id, scope="EmergeViaXod", required=False, purpose="Old."
            )
        )
        db.session.commit()
    path = f"/vendor/applications/{application.id}/edit"
    html = signed_in.get(path).get_data(as_text=True)
    assert "Deprecated: it can no longer be asked for." in html
    kept = {"scope_EmergeViaXod": "optional", "purpose_EmergeViaXod": "Old."}
    response = signed_in.post(path, data={"csrf_token": csrf_token(html), **registration(**kept)})
    assert response.status_code == 400
    assert "EmergeViaXod is deprecated and cannot be requested" in response.get_data(as_text=True)
    dropped = {"scope_EmergeViaXod": "none"}
    response = signed_in.post(
        path, data={"csrf_token": csrf_token(html), **registration(**dropped)}
    )
    assert response.status_code == 302
    with app.app_context():
        assert "EmergeViaXod" not in db.session.get(Application, application.id).requested_scopes


# --- rotating the client secret -----------------------------------------------------------------


def test_rotating_the_secret_stops_the_old_one_at_once(signed_in, make_app) -> None:
    application, old_secret = make_app()
    assert client_credentials(signed_in, application.client_id, old_secret).status_code == 200
    path = f"/vendor/applications/{application.id}/rotate-secret"
    confirm = signed_in.get(path)
    assert confirm.status_code == 200
    assert "stops working as soon as you confirm" in confirm.get_data(as_text=True)
    response = signed_in.post(path, data={"csrf_token": csrf_token(confirm.get_data(as_text=True))})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "It will not be shown again" in response.get_data(as_text=True)
    new_secret = shown_secret(response)
    assert new_secret != old_secret
    old = client_credentials(signed_in, application.client_id, old_secret)
    assert old.status_code == 401
    assert client_credentials(signed_in, application.client_id, new_secret).status_code == 200
    assert new_secret not in signed_in.get("/vendor").get_data(as_text=True)


def test_registration_edits_and_rotation_are_audited(app, signed_in, make_app) -> None:
    from authserver.models import AuditEvent

    response = register(signed_in)
    client_id = re.search(r'id="client-id" value="([^"]+)"', response.get_data(as_text=True))
    application_id = _id(app, client_id.group(1))
    path = f"/vendor/applications/{application_id}/rotate-secret"
    signed_in.post(path, data={"csrf_token": page_token(signed_in, path)})
    with app.app_context():
        actions = list(
            db.session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.application_id == application_id)
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["application:registered", "application:client_secret_rotated"]
