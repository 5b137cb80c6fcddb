"""The platform admin's register pages over HTTP: finding an establishment, onboarding it or
its trust, adding a school the register lacks (with a reason, audited), and nobody else in."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authserver.domain import establishments as register
from authserver.extensions import db
from authserver.models import AuditEvent, Establishment, Role, School, Trust
from authserver.models.people import Invitation
from tests.oauth_flow import csrf_token, sign_in
from tests.register_files import SAMPLE, register_csv, row


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def load(app, content: bytes = b"") -> None:
    with app.app_context():
        rows = register.read_register(content or SAMPLE.read_bytes())
        register.import_register(rows, actor="test")
        db.session.commit()


@pytest.fixture
def platform_admin(make_user):
    return make_user(Role.PLATFORM_ADMIN)


@pytest.fixture
def admin_client(app, client, platform_admin):
    load(app)
    assert sign_in(client, platform_admin.email).status_code == 302
    return client


def post_form(client, page: str, action: str, **data):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **data})


# --- finding ------------------------------------------------------------------------------------


def test_the_overview_leads_to_the_register(admin_client) -> None:
    html = admin_client.get("/platform").get_data(as_text=True)
    assert 'href="/platform/establishments"' in html
    assert 'href="/platform/schools/new"' in html


def test_finding_an_establishment_by_urn(admin_client) -> None:
    response = admin_client.get("/platform/establishments?q=140201")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 establishment matches “140201”" in html
    assert 'href="/platform/establishments/140201"' in html
    assert "Harbour Lights Academy</a>" in html


def test_finding_establishments_by_words_of_their_name(admin_client) -> None:
    html = admin_client.get("/platform/establishments?q=harbour+primary").get_data(as_text=True)
    assert "1 establishment matches “harbour primary”" in html
    assert "Harbour Lights Primary Academy" in html
    html = admin_client.get("/platform/establishments?q=Saltmouth+Free").get_data(as_text=True)
    assert "Saltmouth Free School" in html
    none = admin_client.get("/platform/establishments?q=Nowhere").get_data(as_text=True)
    assert "No establishment matches “Nowhere”" in none
    assert 'href="/platform/schools/new"' in none
    # Wildcards are letters like any other.
    assert "No establishment matches" in admin_client.get(
        "/platform/establishments?q=%25"
    ).get_data(as_text=True)


def test_results_come_a_page_at_a_time(app, admin_client) -> None:
    load(app, register_csv([row(str(160000 + n), f"Oak Tree School {n:02}") for n in range(45)]))
    first = admin_client.get("/platform/establishments?q=oak+tree").get_data(as_text=True)
    assert "45 establishments match" in first
    assert "Page 1 of 3." in first
    assert "Oak Tree School 00" in first
    assert "Oak Tree School 20" not in first
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    third = admin_client.get("/platform/establishments?q=oak+tree&page=3").get_data(as_text=True)
    assert "Oak Tree School 44" in third
    assert "Oak Tree School 39" not in third
    assert 'rel="prev"' in third
    assert 'rel="next"' not in third
    # A page past the end or not a number shows what there is, not an error.
    assert admin_client.get("/platform/establishments?q=oak&page=x").status_code == 200
    assert admin_client.get("/platform/establishments?q=oak&page=99").status_code == 200


def test_an_empty_search_says_what_to_enter(admin_client) -> None:
    response = admin_client.get("/platform/establishments?q=+")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert "Enter a URN or part of a school&#39;s name." in html
    assert 'aria-invalid="true"' in html
    assert admin_client.get("/platform/establishments").status_code == 200


# --- onboarding ---------------------------------------------------------------------------------


def test_onboarding_an_establishment(app, admin_client, platform_admin) -> None:
    page = admin_client.get("/platform/establishments/140101")
    html = page.get_data(as_text=True)
    assert "Riverside Community Primary School" in html
    assert "999/2101" in html
    assert "It is not on the platform yet" in html
    response = post_form(
        admin_client, "/platform/establishments/140101", "/platform/establishments/140101/onboard"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/platform/schools/140101"
    school_page = admin_client.get("/platform/schools/140101").get_data(as_text=True)
    assert "Riverside Community Primary School is now on the platform." in school_page
    assert 'id="first-admin"' in school_page
    with app.app_context():
        school = db.session.scalar(select(School).where(School.urn == "140101"))
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "school:onboarded")
        )
        assert (event.school_id, event.actor_user_id) == (school.id, platform_admin.id)
        assert event.detail["source"] == "register"
    again = admin_client.get("/platform/establishments/140101").get_data(as_text=True)
    assert 'href="/platform/schools/140101"' in again
    assert "/onboard" not in again


def test_onboarding_twice_or_a_closed_school_is_refused(app, admin_client) -> None:
    closed = admin_client.get("/platform/establishments/140103").get_data(as_text=True)
    assert "This school has closed" in closed
    assert "/onboard" not in closed
    refused = post_form(
        admin_client, "/platform/establishments/140103", "/platform/establishments/140103/onboard"
    )
    assert refused.status_code == 302
    shown = admin_client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "is closed, according to the DfE register." in shown
    assert count(app, School) == 0


def test_onboarding_needs_the_forms_csrf_token(app, admin_client) -> None:
    assert admin_client.post("/platform/establishments/140101/onboard").status_code == 400
    assert admin_client.post("/platform/trusts/9002/onboard").status_code == 400
    assert count(app, School) == 0


def test_a_school_joins_its_trust_when_the_trust_is_on_the_platform(app, admin_client) -> None:
    with app.app_context():
        db.session.add(Trust(name="Harbour Lights Academy Trust", code="9002"))
        db.session.commit()
    post_form(
        admin_client, "/platform/establishments/140201", "/platform/establishments/140201/onboard"
    )
    with app.app_context():
        school = db.session.scalar(select(School).where(School.urn == "140201"))
        assert school.trust.code == "9002"


def test_onboarding_a_trust_with_its_open_schools(app, admin_client, platform_admin) -> None:
    page = admin_client.get("/platform/trusts/9002").get_data(as_text=True)
    assert "4 open schools will be added" in page
    assert "Old Quay Junior Academy" in page
    response = post_form(admin_client, "/platform/trusts/9002", "/platform/trusts/9002/onboard")
    assert response.status_code == 302
    after = admin_client.get("/platform/trusts/9002").get_data(as_text=True)
    assert "Harbour Lights Academy Trust is on the platform: 4 schools added." in after
    assert "The trust and all its open schools are on the platform." in after
    with app.app_context():
        trust = db.session.scalar(select(Trust).where(Trust.code == "9002"))
        assert sorted(s.urn for s in trust.schools) == ["140201", "140202", "140203", "140204"]
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "trust:onboarded")
        )
        assert event.actor_user_id == platform_admin.id
        assert sorted(event.detail["added"]) == ["140201", "140202", "140203", "140204"]
    again = post_form(admin_client, "/platform/trusts/9002", "/platform/trusts/9002/onboard")
    refused = admin_client.get(again.headers["Location"]).get_data(as_text=True)
    assert "already on the platform" in refused
    assert count(app, School) == 4


def test_unknown_establishments_and_trusts_are_not_found(admin_client) -> None:
    assert admin_client.get("/platform/establishments/999999").status_code == 404
    assert admin_client.get("/platform/trusts/0000").status_code == 404
    assert admin_client.get("/platform/schools/999999").status_code == 404


# --- a school the register lacks ------------------------------------------------------------------

NEW = "/platform/schools/new"


def add(client, **fields):
    data = {"urn": "170001", "name": "Brand New Academy", "phase": "primary", **fields}
    return post_form(client, NEW, NEW, **data)


def test_a_school_not_in_the_register_is_added_with_its_reason(
    app, admin_client, platform_admin
) -> None:
    reason = "Opened this September; the DfE register does not list it yet."
    response = add(admin_client, reason=reason)
    assert response.status_code == 302
    assert response.headers["Location"] == "/platform/schools/170001"
    page = admin_client.get("/platform/schools/170001").get_data(as_text=True)
    assert "Not in the DfE register" in page
    with app.app_context():
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "school:added_outside_register")
        )
        assert event.detail["reason"] == reason
        assert event.actor_user_id == platform_admin.id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": ""}, "Say why this school is added without the DfE register."),
        ({"reason": "new"}, "Say why this school is added without the register, in a sentence."),
        ({"reason": "A good reason.", "urn": "12"}, "A URN is six or seven digits"),
        ({"reason": "A good reason.", "urn": "140101"}, "onboard it from the register instead"),
        ({"reason": "A good reason.", "name": ""}, "Enter the school&#39;s name."),
        ({"reason": "A good reason.", "phase": "infants"}, "Choose the school&#39;s phase."),
        ({"reason": "A good reason.", "phase": ""}, "Choose the school&#39;s phase."),
    ],
)
def test_adding_a_school_outside_the_register_refusals(app, admin_client, fields, message) -> None:
    response = add(admin_client, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert message in html
    assert count(app, School) == 0
    assert count(app, AuditEvent, AuditEvent.action == "school:added_outside_register") == 0


def test_a_school_already_on_the_platform_is_not_added_twice(app, admin_client, school) -> None:
    response = add(admin_client, urn=school.urn, reason="Opened this September.")
    assert response.status_code == 400
    assert "already on the platform" in response.get_data(as_text=True)


# --- nobody else ----------------------------------------------------------------------------------

PAGES = [
    ("get", "/platform/establishments?q=140101"),
    ("get", "/platform/establishments/140101"),
    ("post", "/platform/establishments/140101/onboard"),
    ("get", "/platform/trusts/9002"),
    ("post", "/platform/trusts/9002/onboard"),
    ("get", "/platform/schools/new"),
    ("post", "/platform/schools/new"),
]


@pytest.mark.parametrize("role", [Role.SCHOOL_ADMIN, Role.TRUST_ADMIN, Role.VENDOR_ADMIN])
def test_only_platform_admins_find_these_pages(
    app, client, make_user, school, vendor, role
) -> None:
    load(app)
    organisation = {
        Role.SCHOOL_ADMIN: {"school": school},
        Role.VENDOR_ADMIN: {"vendor": vendor},
        Role.TRUST_ADMIN: {},
    }[role]
    if role is Role.TRUST_ADMIN:
        with app.app_context():
            trust = Trust(name="Some trust")
            db.session.add(trust)
            db.session.commit()
            db.session.refresh(trust)
            organisation = {"trust": trust}
    user = make_user(role, **organisation)
    assert sign_in(client, user.email).status_code == 302
    # A token of their own session: refused for who they are, not for a missing token.
    token = csrf_token(client.get("/account").get_data(as_text=True))
    for method, path in PAGES:
        data = {"csrf_token": token} if method == "post" else None
        assert getattr(client, method)(path, data=data).status_code == 404, path
    assert client.get(f"/platform/schools/{school.urn}").status_code == 404
    assert count(app, School) == 1


def test_signed_out_visitors_are_sent_to_sign_in(app, client) -> None:
    load(app)
    response = client.get("/platform/establishments/140101")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    assert count(app, Establishment) == 11


def test_an_onboarded_trust_leads_to_inviting_its_first_admin(app, admin_client) -> None:
    post_form(admin_client, "/platform/trusts/9002", "/platform/trusts/9002/onboard")
    trust_page = admin_client.get("/platform/trusts/9002").get_data(as_text=True)
    link = "/platform/invitations?kind=trust&amp;organisation=9002"
    assert link in trust_page
    # The form arrives filled in; the trust is found by its code in the register.
    form = admin_client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'value="9002"' in form
    response = admin_client.post(
        "/platform/invitations",
        data={
            "csrf_token": csrf_token(form),
            "kind": "trust",
            "organisation": "9002",
            "email": "ceo@harbourlights.example.org",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        [invitation] = db.session.scalars(select(Invitation))
        assert invitation.email == "ceo@harbourlights.example.org"
        assert db.session.get(Trust, invitation.trust_id).code == "9002"


def test_an_onboarded_school_leads_to_inviting_its_first_admin(app, admin_client) -> None:
    post_form(
        admin_client, "/platform/establishments/140001", "/platform/establishments/140001/onboard"
    )
    page = admin_client.get("/platform/schools/140001").get_data(as_text=True)
    assert "/platform/invitations?kind=school&amp;organisation=140001" in page
