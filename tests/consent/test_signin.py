"""Signing in: bcrypt passwords, a rotated session, no hint whether an email exists."""

from __future__ import annotations

import pytest

from authserver.extensions import db
from tests.authenticator import pass_second_factor
from tests.oauth_flow import PASSWORD, csrf_token


def sign_in(
    client,
    email: str,
    password: str = PASSWORD,
    next_url: str | None = None,
    *,
    second_factor: bool = True,
):
    """The password step, then (unless `second_factor` is false) the authenticator's code."""
    page = client.get("/sign-in")
    url = "/sign-in" + (f"?next={next_url}" if next_url is not None else "")
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": email,
            "password": password,
        },
    )
    return pass_second_factor(client, email, response) if second_factor else response


def test_signing_in_rotates_the_session(client, school_admin) -> None:
    with client.session_transaction() as session:
        session["planted_by_attacker"] = "x"
    # The password step makes the new session (the code step only marks it checked).
    response = sign_in(client, school_admin.email, second_factor=False)
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted_by_attacker" not in session
        # The cookie holds only a token: who it is, and whether it still holds, is the server's.
        assert set(session) <= {"sid", "csrf_token"}
        assert len(session["sid"]) >= 43
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_email_is_matched_without_regard_to_case(client, school_admin) -> None:
    assert sign_in(client, school_admin.email.upper()).status_code == 302


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
def test_a_failed_sign_in_says_nothing_about_the_account(client, school_admin, which) -> None:
    email = school_admin.email if which == "wrong password" else "nobody@example.org"
    password = "not the password" if which == "wrong password" else PASSWORD
    response = sign_in(client, email, password)
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_a_deactivated_user_cannot_sign_in(app, client, school_admin) -> None:
    from authserver.models import User

    with app.app_context():
        db.session.get(User, school_admin.id).is_active = False
        db.session.commit()
    assert sign_in(client, school_admin.email).status_code == 401


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/scopes", "/scopes"),
        ("https://evil.example.com/", "/home"),
        ("//evil.example.com/", "/home"),
        ("/\\evil.example.com", "/home"),
        ("javascript:alert(1)", "/home"),
    ],
)
def test_sign_in_returns_only_to_a_path_on_this_site(
    client, school_admin, next_url, landing
) -> None:
    response = sign_in(client, school_admin.email, next_url=next_url)
    assert response.headers["Location"] == landing


def test_the_sign_in_form_needs_its_csrf_token(client, school_admin) -> None:
    response = client.post("/sign-in", data={"email": school_admin.email, "password": PASSWORD})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_signing_out_ends_the_session(client, school_admin) -> None:
    sign_in(client, school_admin.email)
    page = client.get("/sign-in")
    assert client.post("/sign-out").status_code == 400  # no CSRF token: refused
    response = client.post(
        "/sign-out", data={"csrf_token": csrf_token(page.get_data(as_text=True))}
    )
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_failed_sign_ins_are_limited_per_account(app, client, school_admin) -> None:
    limit = int(app.config["SETTINGS"].sign_in_failures_per_account.split()[0])
    for _ in range(limit):
        assert sign_in(client, school_admin.email, "wrong password").status_code == 401
    blocked = sign_in(client, school_admin.email, "wrong password")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in blocked.get_data(as_text=True)
    # Even the right password waits: the attacker cannot learn it was right.
    assert sign_in(client, school_admin.email).status_code == 429
    # Another account from elsewhere is not locked out by this.
    other = app.test_client()
    assert sign_in(other, "someone.else@example.org", "nope").status_code == 401


def test_successful_sign_ins_do_not_count(app, client, school_admin) -> None:
    limit = int(app.config["SETTINGS"].sign_in_failures_per_account.split()[0])
    for _ in range(limit + 2):
        # The password step only: the code step has limits (and single-use codes) of its own.
        assert sign_in(client, school_admin.email, second_factor=False).status_code == 302


def test_failed_sign_ins_are_limited_per_address(app, client, school_admin) -> None:
    limit = int(app.config["SETTINGS"].sign_in_failures_per_address.split()[0])
    for n in range(limit):
        assert sign_in(client, f"guess{n}@example.org", "nope").status_code == 401
    assert sign_in(client, school_admin.email).status_code == 429
