"""Two-step sign-in: set up at first sign-in by anyone who may approve or manage, nothing else
reachable until then; codes after the password, each good once; recovery codes good once;
wrong codes limited; a fresh code before approving special-category data; resets."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pyotp
import pytest
from sqlalchemy import select

from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models import Role
from authserver.models.audit import AuditEvent
from authserver.models.grants import Grant
from authserver.models.mail import OutboxMessage
from authserver.models.second_factors import RecoveryCode, SecondFactor
from authserver.models.sessions import UserSession
from tests.authenticator import code_for, secret_for, unused_code
from tests.oauth_flow import PASSWORD, OAuthFlow, csrf_token, query_of, sign_in

REDIRECT_URI = "https://app.example.com/callback"
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 8


@pytest.fixture
def app_settings() -> dict[str, object]:
    return {
        "SECOND_FACTOR_FAILURES_PER_ACCOUNT": f"{ACCOUNT_LIMIT} per 15 minutes",
        "SECOND_FACTOR_FAILURES_PER_ADDRESS": f"{ADDRESS_LIMIT} per 15 minutes",
    }


def password_step(client, email: str, next_url: str | None = None):
    page = client.get("/sign-in")
    url = "/sign-in" + (f"?next={next_url}" if next_url else "")
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": email,
            "password": PASSWORD,
        },
    )


def type_code(client, code: str, location: str = "/sign-in/code"):
    page = client.get(location)
    return client.post(
        location, data={"csrf_token": csrf_token(page.get_data(as_text=True)), "code": code}
    )


def actions_of(app, user_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.actor_user_id == user_id)
                .order_by(AuditEvent.id)
            )
        )


def set_up_page_secret(html: str) -> str:
    return re.search(r'id="setup-key">([^<]+)<', html).group(1).replace(" ", "")


def recovery_codes_on(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", html)


# --- Who must have it, and setting it up ------------------------------------------------


@pytest.mark.parametrize(
    ("role", "organisation", "can_approve"),
    [
        (Role.SCHOOL_ADMIN, "school", True),
        (Role.SCHOOL_ADMIN, "school", False),
        (Role.TRUST_ADMIN, "trust", True),
        (Role.VENDOR_ADMIN, "vendor", False),
        (Role.PLATFORM_ADMIN, None, False),
    ],
)
def test_anyone_holding_a_role_must_set_up_an_authenticator_before_anything_else(
    app, client, make_user, school, vendor, role, organisation, can_approve
) -> None:
    from authserver.models import Trust

    with app.app_context():
        trust = Trust(name="Test Trust")
        db.session.add(trust)
        db.session.commit()
        trust_id = trust.id
    kinds = {"school": school, "vendor": vendor, "trust": SimpleNamespace(id=trust_id)}
    extra = {organisation: kinds[organisation]} if organisation else {}
    person = make_user(role, can_approve=can_approve, enrolled=False, **extra)

    response = password_step(client, person.email, next_url="/account")
    assert response.headers["Location"] == "/second-factor/set-up?next=/account"
    # Nothing else is reachable: each page sends the person back to set it up.
    for path in ("/account", "/home", "/schools", "/vendor", "/platform", "/", "/scopes"):
        blocked = client.get(path)
        assert blocked.status_code == 302, path
        assert blocked.headers["Location"].startswith("/second-factor/set-up"), path
    assert client.get("/sign-in/code").headers["Location"].startswith("/second-factor/set-up")


def test_setting_up_shows_a_qr_code_and_the_key_and_needs_a_current_code(
    app, client, make_user, school
) -> None:
    person = make_user(Role.SCHOOL_ADMIN, school=school, enrolled=False)
    password_step(client, person.email)
    page = client.get("/second-factor/set-up?next=/account")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert '<svg role="img" aria-labelledby="qr-caption"' in html  # inline, no script
    assert "<script" not in html
    secret = set_up_page_secret(html)
    assert len(secret) == 32
    # A reload shows the same key: what was scanned still matches.
    assert set_up_page_secret(client.get("/second-factor/set-up").get_data(as_text=True)) == secret
    with app.app_context():
        sealed = db.session.scalar(select(SecondFactor.totp_secret_sealed))
    assert secret not in sealed  # sealed at rest

    wrong = client.post(
        "/second-factor/set-up?next=/account",
        data={"csrf_token": csrf_token(html), "code": "000000"},
    )
    assert wrong.status_code == 400
    assert "That code does not match" in wrong.get_data(as_text=True)
    assert client.get("/account").status_code == 302

    done = client.post(
        "/second-factor/set-up?next=/account",
        data={"csrf_token": csrf_token(html), "code": pyotp.TOTP(secret).now()},
    )
    text = done.get_data(as_text=True)
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    codes = recovery_codes_on(text)
    assert len(codes) == 10 == len(set(codes))
    assert 'href="/account"' in text
    assert client.get("/account").status_code == 200
    with app.app_context():
        digests = list(db.session.scalars(select(RecoveryCode.code_digest)))
    assert len(digests) == 10
    assert not any(code.replace("-", "") in digests for code in codes)
    assert AuditAction.SECOND_FACTOR_ENROLLED in actions_of(app, person.id)
    assert AuditAction.SECURITY_NOTICE_DUE in actions_of(app, person.id)
    # The person hears of it by email, in case the phone set up was not theirs.
    with app.app_context():
        notices = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == person.email)
        ).all()
        assert [m.subject for m in notices] == ["Your sign-in security was changed"]
        assert "set up" in notices[0].text_body


def test_a_person_with_no_role_signs_in_with_the_password_alone(app, client) -> None:
    from authserver.models import User

    with app.app_context():
        person = User(email="reader@example.org", name="Reader")
        person.set_password(PASSWORD, rounds=4)
        db.session.add(person)
        db.session.commit()
    response = password_step(client, "reader@example.org", next_url="/account")
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200


def test_view_only_staff_sign_in_with_the_password_alone(app, client, make_user, school) -> None:
    reader = make_user(
        Role.SCHOOL_ADMIN, school=school, can_approve=False, can_manage=False, enrolled=False
    )
    response = password_step(client, reader.email, next_url=f"/schools/{school.urn}")
    assert response.headers["Location"] == f"/schools/{school.urn}"
    assert client.get(f"/schools/{school.urn}").status_code == 200


@pytest.mark.parametrize(
    ("can_approve", "can_manage"), [(True, False), (False, True)], ids=["approver", "manager"]
)
def test_approvers_and_managers_must_set_up_a_second_factor(
    client, make_user, school, can_approve, can_manage
) -> None:
    person = make_user(
        Role.SCHOOL_ADMIN,
        school=school,
        can_approve=can_approve,
        can_manage=can_manage,
        enrolled=False,
    )
    response = password_step(client, person.email, next_url=f"/schools/{school.urn}")
    assert response.headers["Location"].startswith("/second-factor/set-up")


# --- The code after the password ------------------------------------------------------------


def test_after_the_password_only_the_code_page_and_sign_out_are_reachable(
    app, client, school_admin, school
) -> None:
    response = password_step(client, school_admin.email, next_url=f"/schools/{school.urn}")
    assert response.headers["Location"] == f"/sign-in/code?next=/schools/{school.urn}"
    for path in (f"/schools/{school.urn}", "/account", "/second-factor/set-up"):
        blocked = client.get(path)
        assert blocked.headers["Location"].startswith("/sign-in/code"), path
    page = client.get("/sign-in/code")
    assert "Sign out" in page.get_data(as_text=True)
    in_now = type_code(client, unused_code(app, school_admin.email), response.headers["Location"])
    assert in_now.headers["Location"] == f"/schools/{school.urn}"
    assert client.get(f"/schools/{school.urn}").status_code == 200
    with app.app_context():
        checked = db.session.scalar(select(UserSession.second_factor_at))
    assert checked is not None  # the session records when the factor was checked
    assert AuditAction.SECOND_FACTOR_PASSED in actions_of(app, school_admin.id)


def test_a_wrong_code_is_refused_with_a_readable_message(app, client, school_admin) -> None:
    password_step(client, school_admin.email)
    refused = type_code(client, "123456" if code_for(school_admin.email) != "123456" else "654321")
    assert refused.status_code == 401
    text = refused.get_data(as_text=True)
    assert "There is a problem" in text
    assert "That code is not right" in text
    assert 'aria-invalid="true"' in text
    assert client.get("/account").headers["Location"].startswith("/sign-in/code")
    assert AuditAction.SECOND_FACTOR_FAILED in actions_of(app, school_admin.id)
    empty = type_code(client, "")
    assert empty.status_code == 401


def test_a_code_works_once_even_from_another_browser(app, client, school_admin) -> None:
    code = unused_code(app, school_admin.email)
    password_step(client, school_admin.email)
    assert type_code(client, code).status_code == 302
    other = app.test_client()
    password_step(other, school_admin.email)
    replayed = type_code(other, code)
    assert replayed.status_code == 401
    assert other.get("/account").status_code == 302


def test_a_recovery_code_works_once(app, client, make_user, school) -> None:
    person = make_user(Role.SCHOOL_ADMIN, school=school, enrolled=False)
    password_step(client, person.email)
    html = client.get("/second-factor/set-up").get_data(as_text=True)
    done = client.post(
        "/second-factor/set-up",
        data={
            "csrf_token": csrf_token(html),
            "code": pyotp.TOTP(set_up_page_secret(html)).now(),
        },
    )
    recovery = recovery_codes_on(done.get_data(as_text=True))[0]

    phone_lost = app.test_client()
    password_step(phone_lost, person.email)
    # As a person might type it: capitals, spaces instead of dashes.
    used = type_code(phone_lost, recovery.upper().replace("-", " "))
    assert used.status_code == 302
    assert "9 left" in phone_lost.get(used.headers["Location"], follow_redirects=True).get_data(
        as_text=True
    )
    assert AuditAction.RECOVERY_CODE_USED in actions_of(app, person.id)

    again = app.test_client()
    password_step(again, person.email)
    assert type_code(again, recovery).status_code == 401


def test_wrong_codes_are_limited_per_account(app, client, school_admin) -> None:
    password_step(client, school_admin.email)
    wrong = "000000" if code_for(school_admin.email) != "000000" else "111111"
    for _ in range(ACCOUNT_LIMIT):
        assert type_code(client, wrong).status_code == 401
    blocked = type_code(client, wrong)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many" in blocked.get_data(as_text=True)
    # Even the right code waits now: guessing cannot go on.
    assert type_code(client, unused_code(app, school_admin.email)).status_code == 429


def test_wrong_codes_are_limited_per_address(app, client, make_user, school) -> None:
    first = make_user(Role.SCHOOL_ADMIN, school=school)
    second = make_user(Role.SCHOOL_ADMIN, school=school)
    wrong = "000000"
    password_step(client, first.email)
    for _ in range(ACCOUNT_LIMIT - 1):
        type_code(client, wrong if code_for(first.email) != wrong else "111111")
    other = app.test_client()  # the same address
    password_step(other, second.email)
    for _ in range(ADDRESS_LIMIT - (ACCOUNT_LIMIT - 1)):
        assert (
            type_code(other, wrong if code_for(second.email) != wrong else "111111").status_code
            == 401
        )
    assert type_code(other, unused_code(app, second.email)).status_code == 429


# --- Step-up before approving special-category data ---------------------------------------


@pytest.fixture
def oauth_flow(client, vendor_app, school_admin):
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    assert flow.sign_in(school_admin.email).status_code == 302
    return flow


def last_checked(app, user_id: int, ago: dt.timedelta) -> None:
    """Move the moment the person's sessions last checked the factor back by `ago`."""
    with app.app_context():
        for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)):
            row.second_factor_at = row.second_factor_at - ago
        db.session.commit()


def grant_scopes(app) -> list[str] | None:
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        return list(grant.scopes) if grant is not None else None


def test_a_fresh_check_lets_special_category_data_be_approved_at_once(
    app, oauth_flow, school_admin
) -> None:
    last_checked(app, school_admin.id, dt.timedelta(minutes=14))
    oauth_flow.start()
    decision = oauth_flow.decide(optional=("DietaryNeeds",))
    assert "code" in query_of(decision)
    assert "DietaryNeeds" in grant_scopes(app)


def test_an_older_check_asks_again_and_keeps_the_choices(app, oauth_flow, school_admin) -> None:
    last_checked(app, school_admin.id, dt.timedelta(minutes=16))
    oauth_flow.start()
    asked = oauth_flow.decide(optional=("DietaryNeeds", "Contact"))
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "Confirm it is you" in text
    assert "DietaryNeeds" in text
    # Refused on the server: nothing approved, no code issued, until the code is typed.
    assert grant_scopes(app) is None
    assert 'name="optional_scopes" value="DietaryNeeds"' in text
    assert 'name="optional_scopes" value="Contact"' in text
    action = re.search(r'<form method="post" action="(/oauth/authorize[^"]+)"', text).group(1)
    text = text[text.index(action) :]
    carried = dict.fromkeys(re.findall(r'<input type="hidden" name="([^"]+)"', text))
    assert "approve" in carried

    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text)
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value.replace("&amp;", "&"))

    wrong = "000000" if code_for(school_admin.email) != "000000" else "111111"
    data_wrong = {**data, "step_up_code": wrong}
    refused = oauth_flow.client.post(action.replace("&amp;", "&"), data=data_wrong)
    assert refused.status_code == 400
    assert "That code is not right" in refused.get_data(as_text=True)
    assert grant_scopes(app) is None

    data["step_up_code"] = [unused_code(app, school_admin.email)]
    approved = oauth_flow.client.post(action.replace("&amp;", "&"), data=data)
    assert "code" in query_of(approved)
    assert {"DietaryNeeds", "Contact"} <= set(grant_scopes(app))


def test_an_older_check_is_no_obstacle_to_ordinary_data(app, oauth_flow, school_admin) -> None:
    last_checked(app, school_admin.id, dt.timedelta(hours=2))
    oauth_flow.start()
    decision = oauth_flow.decide(optional=("Contact",))
    assert "code" in query_of(decision)


def test_a_request_on_the_dashboard_asks_again_too(
    app, client, vendor_app, school_admin, school
) -> None:
    from authserver.domain import grants
    from authserver.models.applications import Application
    from authserver.models.organisations import School

    application, _ = vendor_app
    with app.app_context():
        access_request, _ = grants.request_access(
            db.session.get(Application, application.id),
            db.session.get(School, school.id),
            actor=db.session.get(Application, application.id),
        )
        db.session.commit()
        request_id = access_request.id
    assert sign_in(client, school_admin.email).status_code == 302
    last_checked(app, school_admin.id, dt.timedelta(minutes=20))
    url = f"/schools/{school.urn}/requests/{request_id}"
    page = client.get(url).get_data(as_text=True)
    shared = re.findall(r'name="shared_fields" value="([^"]+)"[^>]*checked', page)
    asked = client.post(
        url,
        data={
            "csrf_token": csrf_token(page),
            "school": school.urn,
            "optional_scopes": ["DietaryNeeds"],
            "shared_fields": shared,
            "approve": "1",
        },
    )
    assert asked.status_code == 200
    assert "Confirm it is you" in asked.get_data(as_text=True)
    assert grant_scopes(app) is None


# --- The account page and resets ----------------------------------------------------------


def test_the_account_page_shows_the_status_and_makes_new_recovery_codes(
    app, client, school_admin
) -> None:
    assert sign_in(client, school_admin.email).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "Two-step sign-in" in page
    assert "10 of 10" in page
    token = re.search(r'name="recovery-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    with app.app_context():
        before = set(db.session.scalars(select(RecoveryCode.code_digest)))

    refused = client.post(
        "/account/second-factor/recovery-codes",
        data={"recovery-csrf_token": token, "recovery-code": "000000"},
    )
    assert refused.status_code == 302
    assert "not right" in client.get("/account").get_data(as_text=True)

    made = client.post(
        "/account/second-factor/recovery-codes",
        data={"recovery-csrf_token": token, "recovery-code": unused_code(app, school_admin.email)},
    )
    assert made.status_code == 200
    assert len(recovery_codes_on(made.get_data(as_text=True))) == 10
    with app.app_context():
        after = set(db.session.scalars(select(RecoveryCode.code_digest)))
    assert len(after) == 10
    assert not before & after
    assert AuditAction.RECOVERY_CODES_REPLACED in actions_of(app, school_admin.id)


def test_resetting_ones_own_authenticator_needs_a_code_and_leads_to_a_new_one(
    app, client, school_admin
) -> None:
    assert sign_in(client, school_admin.email).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    token = re.search(r'name="reset-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    reset = client.post(
        "/account/second-factor/reset",
        data={"reset-csrf_token": token, "reset-code": unused_code(app, school_admin.email)},
    )
    assert reset.headers["Location"].startswith("/second-factor/set-up")
    html = client.get(reset.headers["Location"]).get_data(as_text=True)
    assert set_up_page_secret(html) != secret_for(school_admin.email)
    assert client.get("/account").headers["Location"].startswith("/second-factor/set-up")
    assert AuditAction.SECOND_FACTOR_RESET in actions_of(app, school_admin.id)


def test_a_platform_admin_resets_someones_second_factor(
    app, client, make_user, school_admin
) -> None:
    operator = make_user(Role.PLATFORM_ADMIN)
    victim_browser = app.test_client()
    assert sign_in(victim_browser, school_admin.email).status_code == 302
    assert sign_in(client, operator.email).status_code == 302
    page = client.get("/platform/second-factor-reset")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))

    missing = client.post(
        "/platform/second-factor-reset",
        data={"csrf_token": token, "email": "", "reason": "", "code": ""},
    )
    assert missing.status_code == 400
    assert "There is a problem" in missing.get_data(as_text=True)

    done = client.post(
        "/platform/second-factor-reset",
        data={
            "csrf_token": token,
            "email": school_admin.email.upper(),
            "reason": "Lost phone, confirmed by a call to the school office",
            "code": unused_code(app, operator.email),
        },
    )
    assert done.status_code == 302
    with app.app_context():
        assert (
            db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == school_admin.id))
            is None
        )
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == AuditAction.SECOND_FACTOR_RESET)
        )
        assert event.actor_user_id == operator.id
        assert event.detail["person"] == school_admin.email
        assert event.detail["by_someone_else"] is True
        notice = db.session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.SECURITY_NOTICE_DUE)
            .order_by(AuditEvent.id.desc())
        )
        assert notice.detail["person"] == school_admin.email
    # Signed out everywhere, and set up afresh at the next sign-in.
    assert victim_browser.get("/account").status_code == 302
    again = password_step(app.test_client(), school_admin.email)
    assert again.headers["Location"].startswith("/second-factor/set-up")


def test_only_a_platform_admin_may_reset_someone_else(client, school_admin) -> None:
    assert sign_in(client, school_admin.email).status_code == 302
    assert client.get("/platform/second-factor-reset").status_code == 404


def test_a_changed_secret_key_gets_a_readable_page_and_recovery_codes_still_work(
    app, client, school_admin
) -> None:
    """The authenticator's secret is sealed with SECRET_KEY: after a change it cannot be read,
    which the person is told in words (never a 500); recovery codes are digests and still work."""
    from authserver.domain import second_factor
    from authserver.models.users import User

    with app.app_context():
        user = db.session.get(User, school_admin.id)
        recovery = second_factor.regenerate_recovery_codes(user)[0]
        db.session.commit()
    app.config["SECRET_KEY"] = "another secret key, as after an operator's mistake" * 2
    password_step(client, school_admin.email)
    refused = type_code(client, code_for(school_admin.email))
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "secret key has changed" in text
    assert "recovery codes" in text
    assert type_code(client, recovery).status_code == 302
    assert client.get("/account").status_code == 200


def test_a_set_up_left_half_done_before_a_key_change_starts_again(
    app, client, make_user, school
) -> None:
    person = make_user(Role.SCHOOL_ADMIN, school=school, enrolled=False)
    password_step(client, person.email)
    first = set_up_page_secret(client.get("/second-factor/set-up").get_data(as_text=True))
    app.config["SECRET_KEY"] = "another secret key, as after an operator's mistake" * 2
    again = app.test_client()
    password_step(again, person.email)
    page = again.get("/second-factor/set-up")
    assert page.status_code == 200
    assert set_up_page_secret(page.get_data(as_text=True)) != first
