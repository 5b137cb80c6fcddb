"""A forgotten password: the answer never says whether an account exists, the emailed link
works once and for an hour, using it ends every session, and asking is throttled."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import OutboxMessage, PasswordReset
from tests.consent.test_mis_data_pages import signed_in
from tests.consent.test_people_pages import NEW_PASSWORD, actions, link_in, outbox
from tests.consent.test_sessions import csrf
from tests.oauth_flow import sign_in


def ask(client, email: str):
    page = client.get("/forgot-password")
    return client.post("/forgot-password", data={"csrf_token": csrf(page), "email": email})


def choose(client, path: str, password: str = NEW_PASSWORD):
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(
        path, data={"csrf_token": csrf(page), "password": password, "confirm": password}
    )


def test_the_answer_is_the_same_whether_or_not_the_account_exists(
    app, client, school_admin
) -> None:
    known = ask(client, school_admin.email)
    unknown = ask(app.test_client(), "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    strip = lambda response, email: response.get_data(as_text=True).replace(email, "")  # noqa: E731
    assert strip(known, school_admin.email) == strip(unknown, "nobody@example.org")
    assert len(outbox(app, school_admin.email)) == 1
    with app.app_context():
        assert (
            db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.to_address == "nobody@example.org")
            )
            is None
        )
    assert actions(app, "user:password_reset_requested")


def test_a_reset_sets_the_password_and_ends_every_session(app, client, school_admin, school):
    elsewhere = signed_in(app.test_client(), school_admin)
    ask(client, school_admin.email)
    [message] = outbox(app, school_admin.email)
    path = link_in(message)
    assert path.startswith("/reset-password/")
    response = choose(client, path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert elsewhere.get(f"/schools/{school.urn}").status_code == 302
    assert sign_in(app.test_client(), school_admin.email, NEW_PASSWORD).status_code == 302
    assert actions(app, "user:password_reset_completed")
    sent = [m.template_name for m in outbox(app, school_admin.email)]
    assert "security_password_changed" in sent


def test_a_reset_link_works_once(app, client, school_admin) -> None:
    ask(client, school_admin.email)
    path = link_in(outbox(app, school_admin.email)[0])
    assert choose(client, path).status_code == 302
    assert choose(client, path, "another long passphrase here").status_code == 410


def test_a_reset_link_lasts_an_hour(app, client, school_admin) -> None:
    ask(client, school_admin.email)
    path = link_in(outbox(app, school_admin.email)[0])
    with app.app_context():
        reset = db.session.scalar(select(PasswordReset))
        assert reset.expires_at - reset.created_at == dt.timedelta(hours=1)
        reset.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    assert choose(client, path).status_code == 410


def test_a_weak_new_password_is_refused(app, client, school_admin) -> None:
    ask(client, school_admin.email)
    path = link_in(outbox(app, school_admin.email)[0])
    assert choose(client, path, "password1234").status_code == 400


@pytest.fixture
def app_settings():
    return {"PASSWORD_RESETS_PER_ACCOUNT": "2 per hour"}


def test_asking_is_throttled_per_account(app, school_admin) -> None:
    for _ in range(2):
        assert ask(app.test_client(), school_admin.email).status_code == 200
    assert ask(app.test_client(), school_admin.email).status_code == 429
