"""The vendor's pages: register and change applications, client secrets shown once, rotation,
asking schools for access and seeing where each school stands."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AccessRequest, AccessRequestStatus, Application, Role, Vendor
from tests.oauth_flow import basic_auth, csrf_token, sign_in

NEW = "/vendor/applications/new"
SECRET_PATTERN = re.compile(r'id="client-secret" value="([^"]+)"')
CLIENT_ID_PATTERN = re.compile(r'id="client-id" value="([^"]+)"')


@pytest.fixture
def vendor_admin(make_user, vendor):
    return make_user(Role.VENDOR_ADMIN, vendor=vendor)


@pytest.fixture
def signed_in(client, vendor_admin):
    """A client signed in as the vendor's admin."""
    assert sign_in(client, vendor_admin.email).status_code == 302
    return client


def registration(**overrides) -> dict[str, str]:
    data = {
        "name": "Lunch Line",
        "description": "Pre-ordered school meals.",
        "redirect_uris": "https://lunch.example.com/callback\nhttp://127.0.0.1:8765/callback\n",
        "privacy_policy_url": "https://lunch.example.com/privacy",
        "terms_url": "https://lunch.example.com/terms",
        "website_url": "",
        "token_endpoint_auth_method": "client_secret_basic",
        "scope_StudentLite": "required",
        "purpose_StudentLite": "To show pupils' names at the till.",
        "scope_DietaryNeeds": "optional",
        "purpose_DietaryNeeds": "To warn the kitchen of allergies.",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def register(client, **overrides):
    """Fill in and post the registration form as a browser would."""
    html = client.get(NEW).get_data(as_text=True)
    key = re.search(r'name="registration_key" type="hidden" value="([^"]*)"', html)
    data = {"csrf_token": csrf_token(html), "registration_key": key.group(1)}
    return client.post(NEW, data={**data, **registration(**overrides)})


def shown_secret(response) -> str:
    return SECRET_PATTERN.search(response.get_data(as_text=True)).group(1)


def client_credentials(client, client_id: str, secret: str):
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    )


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def page_token(client, path: str = "/vendor") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


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


# --- asking schools for access ------------------------------------------------------------------


def ask(client, application, urn: str):
    prefix = f"application-{application.id}"
    return client.post(
        f"/vendor/applications/{application.id}/access-requests",
        data={f"{prefix}-csrf_token": page_token(client), f"{prefix}-urn": urn},
    )


def test_asking_a_school_makes_one_pending_request(app, signed_in, make_app, school) -> None:
    application, _ = make_app()
    first = ask(signed_in, application, school.urn)
    assert first.status_code == 302
    assert first.headers["Location"] == f"/vendor#application-{application.id}"
    assert "Asked Test Academy" in signed_in.get("/vendor").get_data(as_text=True)
    again = ask(signed_in, application, f" {school.urn} ")
    assert again.status_code == 302
    assert "still waiting" in signed_in.get("/vendor").get_data(as_text=True)
    assert count(app, AccessRequest) == 1
    assert count(app, AccessRequest, AccessRequest.status == AccessRequestStatus.PENDING) == 1


def test_an_unknown_urn_is_refused(app, signed_in, make_app) -> None:
    application, _ = make_app()
    response = ask(signed_in, application, "999999")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "No school has the URN 999999" in html
    assert f'id="application-{application.id}-urn-error" role="alert"' in html
    assert count(app, AccessRequest) == 0
    assert ask(signed_in, application, "").status_code == 400


def test_asking_a_school_that_shares_everything_says_so(
    app, signed_in, make_app, school, school_admin
) -> None:
    application, _ = make_app(required={"StudentLite": "Names."}, optional={})
    assert ask(signed_in, application, school.urn).status_code == 302
    approve_pending(app, application, school, school_admin)
    response = ask(signed_in, application, school.urn)
    assert response.status_code == 400
    assert "already shares everything this application asks for" in response.get_data(as_text=True)


def approve_pending(app, application, school, approver) -> None:
    from authserver.domain import grants
    from authserver.models import School, User

    with app.app_context():
        request = grants.pending_request(application, db.session.get(School, school.id))
        grants.approve(
            request.application,
            request.school,
            approver=db.session.get(User, approver.id),
            choice=grants.choice_for_request(request),
            request=request,
        )
        db.session.commit()


def test_the_table_shows_where_each_school_stands(
    app, signed_in, make_app, make_school, make_user
) -> None:
    from authserver.domain import grants
    from authserver.models import Grant, School, User

    application, _ = make_app(required={"StudentLite": "Names."}, optional={})
    schools = {name: make_school(name=name) for name in ("Ash", "Beech", "Cedar", "Damson")}
    admins = {name: make_user(Role.SCHOOL_ADMIN, school=s) for name, s in schools.items()}
    for school in schools.values():
        assert ask(signed_in, application, school.urn).status_code == 302
    for name in ("Beech", "Cedar"):
        approve_pending(app, application, schools[name], admins[name])
    with app.app_context():
        damson = db.session.get(School, schools["Damson"].id)
        grants.reject(
            grants.pending_request(application, damson),
            by=db.session.get(User, admins["Damson"].id),
        )
        cedar = db.session.scalar(select(Grant).where(Grant.school_id == schools["Cedar"].id))
        grants.revoke(cedar, by=db.session.get(User, admins["Cedar"].id))
        db.session.commit()

    html = signed_in.get("/vendor").get_data(as_text=True)
    rows = dict(
        re.findall(
            r'<th scope="row">([^<]+)</th>\s*<td>\d+</td>\s*<td class="status[^"]*">([^<]+)</td>',
            html,
        )
    )
    assert rows == {
        "Ash": "Pending",
        "Beech": "Approved v1",
        "Cedar": "Revoked (was v1)",
        "Damson": "Rejected",
    }


def test_school_statuses_follow_the_latest_event(app, make_app, school, school_admin) -> None:
    from authserver.domain import grants
    from authserver.domain.applications import SchoolAccess, school_statuses
    from authserver.models import School, User

    application, _ = make_app()
    with app.app_context():
        target = db.session.get(Application, application.id)
        here = db.session.get(School, school.id)
        admin = db.session.get(User, school_admin.id)
        assert school_statuses(target) == []
        request, _ = grants.request_access(target, here, actor=admin)
        grant = grants.approve(
            target, here, approver=admin, choice=grants.choice_for_request(request), request=request
        )
        db.session.flush()
        [status] = school_statuses(target)
        assert (status.status, status.grant_version) == (SchoolAccess.APPROVED, 1)
        grants.revoke(grant, by=admin)
        db.session.flush()
        assert school_statuses(target)[0].status == SchoolAccess.REVOKED
        # Asked again after the revocation, and refused: the refusal is the latest word.
        again, _ = grants.request_access(target, here, actor=admin)
        assert school_statuses(target)[0].status == SchoolAccess.PENDING
        grants.reject(again, by=admin)
        db.session.flush()
        assert school_statuses(target)[0].status == SchoolAccess.REJECTED
        # A pending request for more, while a grant is in force, shows both.
        request, _ = grants.request_access(target, here, actor=admin)
        grants.approve(
            target,
            here,
            approver=admin,
            choice=grants.choice_for_request(request),
            optional_scopes=["Contact"],
            request=request,
        )
        more, _ = grants.request_access(target, here, actor=admin)
        [status] = school_statuses(target)
        assert (status.status, status.grant_version, status.request) == (
            SchoolAccess.PENDING,
            2,
            more,
        )
        db.session.rollback()


# --- who may do what ----------------------------------------------------------------------------


def test_another_vendors_admin_finds_none_of_these_pages(
    app, client, make_app, make_user, school
) -> None:
    application, secret = make_app()
    with app.app_context():
        rival = Vendor(name="Rival Ltd")
        db.session.add(rival)
        db.session.commit()
        db.session.refresh(rival)
        db.session.expunge(rival)
    rival_admin = make_user(Role.VENDOR_ADMIN, vendor=rival)
    sign_in(client, rival_admin.email)
    listing = client.get("/vendor")
    assert listing.status_code == 200
    assert application.client_id not in listing.get_data(as_text=True)
    token = page_token(client)
    base = f"/vendor/applications/{application.id}"
    for method, path in [
        ("get", f"{base}/edit"),
        ("post", f"{base}/edit"),
        ("get", f"{base}/rotate-secret"),
        ("post", f"{base}/rotate-secret"),
        ("post", f"{base}/access-requests"),
        ("get", "/vendor/applications/999999/edit"),
    ]:
        data = {
            "csrf_token": token,
            f"application-{application.id}-csrf_token": token,
            f"application-{application.id}-urn": school.urn,
            **registration(),
        }
        response = getattr(client, method)(path, data=data if method == "post" else None)
        assert response.status_code == 404, (method, path)
    assert count(app, AccessRequest) == 0
    assert client_credentials(client, application.client_id, secret).status_code == 200


def test_a_school_admin_may_not_use_the_vendor_pages(client, school_admin) -> None:
    sign_in(client, school_admin.email)
    assert client.get("/vendor").status_code == 403
    assert client.get(NEW).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get("/vendor")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_a_vendor_admin_lands_on_their_applications(client, vendor_admin) -> None:
    assert sign_in(client, vendor_admin.email).headers["Location"] == "/home"
    assert client.get("/home").headers["Location"] == "/vendor"
    page = client.get("/vendor")
    assert page.status_code == 200
    assert "You have not registered an application yet" in page.get_data(as_text=True)


def test_every_form_needs_its_csrf_token(app, signed_in, make_app, school) -> None:
    application, secret = make_app()
    base = f"/vendor/applications/{application.id}"
    prefix = f"application-{application.id}"
    for path, data in [
        (NEW, registration()),
        (f"{base}/edit", registration()),
        (f"{base}/rotate-secret", {}),
        (f"{base}/access-requests", {f"{prefix}-urn": school.urn}),
    ]:
        assert signed_in.post(path, data=data).status_code == 400, path
    assert count(app, Application) == 1
    assert count(app, AccessRequest) == 0
    assert client_credentials(signed_in, application.client_id, secret).status_code == 200


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


def test_someone_with_several_vendors_chooses_one(app, client, vendor, make_user) -> None:
    from authserver.models import RoleAssignment, User

    admin = make_user(Role.VENDOR_ADMIN, vendor=vendor)
    with app.app_context():
        second = Vendor(name="Second Ltd")
        db.session.add(second)
        db.session.flush()
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
