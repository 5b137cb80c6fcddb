"""Vendor sign-up over HTTP: a good one makes an unverified vendor and signs its admin in; each
bad field is named beside its input; an email with an account gets the same answer and nothing
is made; sign-ups are throttled per address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models import AuditEvent, Role, User, Vendor
from tests.consent.vendor_forms import count
from tests.oauth_flow import csrf_token

SIGN_UP = "/vendors/sign-up"


def answers(**overrides: str | None) -> dict[str, str]:
    data = {
        "name": "Pencil Case Apps Ltd",
        "company_number": "1234567",
        "ico_registration_number": "za 123456",
        "data_protection_contact_name": "Sam Okafor",
        "data_protection_contact_email": "dpo@pencilcase.example.com",
        "data_location": "eea",
        "data_location_detail": "",
        "uses_generative_ai": "yes",
        "generative_ai_use": "Suggests reading books from what pupils have read.",
        "admin_name": "Alex Developer",
        "admin_email": "Alex@PencilCase.example.com",
        "password": "violet tractor harbour mango",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sign_up(client, **overrides: str | None):
    token = csrf_token(client.get(SIGN_UP).get_data(as_text=True))
    return client.post(SIGN_UP, data={"csrf_token": token, **answers(**overrides)})


def test_the_home_and_sign_in_pages_link_to_sign_up(client) -> None:
    for path in ("/", "/sign-in"):
        assert f'href="{SIGN_UP}"' in client.get(path).get_data(as_text=True)


def test_a_good_sign_up_makes_an_unverified_vendor_whose_admin_then_signs_in(app, client) -> None:
    response = sign_up(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/vendors/sign-up/done")
    with app.app_context():
        vendor = db.session.scalar(select(Vendor).where(Vendor.name == "Pencil Case Apps Ltd"))
        assert vendor.company_number == "01234567"  # as Companies House writes it
        assert vendor.ico_registration_number == "ZA123456"
        assert vendor.data_location == "eea"
        assert vendor.uses_generative_ai is True
        assert not vendor.is_verified
        admin = db.session.scalar(select(User).where(User.email == "alex@pencilcase.example.com"))
        assert admin.check_password("violet tractor harbour mango")
        assert admin.vendor_ids() == {vendor.id}
        assert [(a.role, a.can_manage) for a in admin.roles] == [(Role.VENDOR_ADMIN, True)]
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == str(AuditAction.VENDOR_SIGNED_UP))
        )
        assert event.actor_user_id == admin.id
        assert event.detail["vendor_id"] == vendor.id
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "A platform admin checks your company number" in done
    # Not signed in by the sign-up (that would tell which addresses were new): the admin
    # signs in with the password chosen, and sets up the second factor first.
    assert client.get("/vendor").status_code == 302
    page = client.get("/sign-in")
    signed_in = client.post(
        "/sign-in?next=/vendor",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": "alex@pencilcase.example.com",
            "password": "violet tractor harbour mango",
        },
    )
    assert signed_in.headers["Location"].startswith("/second-factor/set-up")


def test_an_email_with_an_account_gets_the_same_answer_and_nothing_is_made(
    app, client, make_user, vendor
) -> None:
    existing = make_user(Role.VENDOR_ADMIN, vendor=vendor, email="taken@example.org")
    fresh = app.test_client()
    new = sign_up(fresh, admin_email="new.person@example.org")
    vendors_before = count(app, Vendor)
    users_before = count(app, User)
    taken = sign_up(client, admin_email=existing.email.upper(), name="Another Name Ltd")
    assert (taken.status_code, taken.headers["Location"]) == (
        new.status_code,
        new.headers["Location"],
    )
    assert (
        client.get(taken.headers["Location"]).get_data(as_text=True).split("<main")[1]
        == (app.test_client().get(new.headers["Location"]).get_data(as_text=True).split("<main")[1])
    )
    assert count(app, Vendor) == vendors_before
    assert count(app, User) == users_before
    assert client.get("/vendor").status_code == 302  # not signed in as anyone


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Enter your organisation's name."),
        ({"name": "Acme\u202eLtd"}, "name", "The organisation name contains a hidden"),
        ({"name": "Endorsed by Ofsted Ltd"}, "name", "must not claim an endorsement"),
        ({"company_number": "ABC"}, "company_number", "8 digits, such as 01234567"),
        ({"company_number": "SC12345X"}, "company_number", "2 letters and 6 digits"),
        ({"ico_registration_number": "12345678"}, "ico_registration_number", "ZA123456"),
        ({"ico_registration_number": ""}, "ico_registration_number", "from the ICO"),
        ({"data_protection_contact_name": ""}, "data_protection_contact_name", "Enter the name"),
        (
            {"data_protection_contact_email": "not-an-email"},
            "data_protection_contact_email",
            "such as dpo@example.com",
        ),
        ({"data_location": None}, "data_location", "Choose where pupils' data is stored."),
        ({"data_location": "moon"}, "data_location", "Not a valid choice"),
        (
            {"data_location": "elsewhere", "data_location_detail": " "},
            "data_location_detail",
            "in which countries",
        ),
        ({"uses_generative_ai": None}, "uses_generative_ai", "generative AI"),
        (
            {"uses_generative_ai": "yes", "generative_ai_use": ""},
            "generative_ai_use",
            "Say what generative AI does",
        ),
        ({"admin_name": ""}, "admin_name", "Enter your name."),
        ({"admin_email": "nobody"}, "admin_email", "such as name@example.com"),
        ({"password": "short"}, "password", "at least 12 characters"),
        ({"password": "password1234"}, "password", "Choose another password."),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_bad_field_is_named_beside_its_input(app, client, change, field, message) -> None:
    response = sign_up(client, **change)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'role="alert"' in html  # the error summary
    assert f'<a href="#{field}">' in html  # links to the input
    error = html.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0].replace("&#39;", "'")
    assert message in error
    assert count(app, Vendor) == 0


def test_sign_up_needs_its_csrf_token(app, client) -> None:
    assert client.post(SIGN_UP, data=answers()).status_code == 400
    assert count(app, Vendor) == 0


def test_sign_ups_are_limited_per_address(app, client) -> None:
    limit = int(app.config["SETTINGS"].vendor_sign_ups_per_address.split()[0])
    for _ in range(limit):
        assert sign_up(client, company_number="bad").status_code == 400
    blocked = sign_up(client)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert count(app, Vendor) == 0
