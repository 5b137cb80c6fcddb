"""The vendor's pages: asking schools for access, where each school stands, and who may use
these pages at all (another vendor, a school admin, a visitor, a form without its CSRF token)."""

from __future__ import annotations

import re

from sqlalchemy import select

from authserver.domain import vendors
from authserver.extensions import db
from authserver.models import AccessRequest, AccessRequestStatus, Application, Role
from tests.conftest import make_vendor_row
from tests.consent.vendor_forms import NEW, client_credentials, count, page_token, registration
from tests.oauth_flow import sign_in

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
        rival = make_vendor_row("Rival Ltd")
        vendors.verify(rival, by="operator (test)")
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
