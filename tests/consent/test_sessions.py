"""Sessions kept on the server: signing out ends them wherever the cookie went, they end when
idle or too old, a disabled account or a removed role takes effect at once, and each person
sees and ends their own sessions and changes their password."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import Role, RoleAssignment, User
from authserver.models.sessions import UserSession
from tests.conftest import PASSWORD
from tests.consent.test_mis_data_pages import signed_in


def csrf(page) -> str:
    """The page's CSRF token, whichever way its input's attributes are ordered."""
    text = page.get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', text
    )
    return found.group(1)


def copy_cookie(app, source):
    """A second browser holding a copy of `source`'s session cookie (stolen, or synced)."""
    other = app.test_client()
    cookie = source.get_cookie("session")
    other.set_cookie(cookie.key, cookie.value)
    return other


def age(app, user_id: int, **moments: dt.timedelta) -> None:
    """Move the person's live sessions' moments back by the given spans."""
    with app.app_context():
        for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)):
            for name, span in moments.items():
                setattr(row, name, getattr(row, name) - span)
        db.session.commit()


def test_a_cookie_copied_before_sign_out_is_worth_nothing_after(
    app, client, school_admin, school
) -> None:
    signed_in(client, school_admin)
    thief = copy_cookie(app, client)
    assert thief.get(f"/schools/{school.urn}").status_code == 200
    page = client.get(f"/schools/{school.urn}")
    client.post("/sign-out", data={"csrf_token": csrf(page)})
    assert thief.get(f"/schools/{school.urn}").status_code == 302
    assert client.get(f"/schools/{school.urn}").status_code == 302


def test_an_approver_is_signed_out_after_thirty_idle_minutes(
    app, client, school_admin, school
) -> None:
    signed_in(client, school_admin)
    age(app, school_admin.id, last_seen_at=dt.timedelta(minutes=29))
    assert client.get(f"/schools/{school.urn}").status_code == 200  # and marks it used
    age(app, school_admin.id, last_seen_at=dt.timedelta(minutes=31))
    assert client.get(f"/schools/{school.urn}").status_code == 302


def test_use_keeps_a_session_alive_and_twelve_hours_end_it(
    app, client, school_admin, school
) -> None:
    signed_in(client, school_admin)
    age(app, school_admin.id, last_seen_at=dt.timedelta(minutes=20))
    assert client.get(f"/schools/{school.urn}").status_code == 200
    age(app, school_admin.id, last_seen_at=dt.timedelta(minutes=20))
    # 40 minutes since sign-in, 20 since the last page: still in.
    assert client.get(f"/schools/{school.urn}").status_code == 200
    age(app, school_admin.id, expires_at=dt.timedelta(hours=13))
    assert client.get(f"/schools/{school.urn}").status_code == 302


def test_someone_who_only_views_has_longer_idle_time(app, client, make_user, school) -> None:
    from authserver.models import Vendor

    with app.app_context():
        vendor = Vendor(name="Viewer Ltd")
        db.session.add(vendor)
        db.session.commit()
        vendor_id = vendor.id
    with app.app_context():
        viewer = User(email="dev@viewer.example.org", name="Developer")
        viewer.set_password(PASSWORD, rounds=4)
        viewer.roles.append(RoleAssignment(role=Role.VENDOR_ADMIN, vendor_id=vendor_id))
        db.session.add(viewer)
        db.session.commit()
        viewer_id = viewer.id
    signed_in(client, viewer)
    age(app, viewer_id, last_seen_at=dt.timedelta(minutes=45))
    assert client.get("/vendor").status_code == 200
    age(app, viewer_id, last_seen_at=dt.timedelta(hours=3))
    assert client.get("/vendor").status_code == 302


def test_a_disabled_account_and_a_removed_role_take_effect_at_once(
    app, client, school_admin, school
) -> None:
    signed_in(client, school_admin)
    with app.app_context():
        db.session.execute(
            RoleAssignment.__table__.delete().where(RoleAssignment.user_id == school_admin.id)
        )
        db.session.commit()
    assert client.get(f"/schools/{school.urn}").status_code == 404
    with app.app_context():
        db.session.execute(update(User).where(User.id == school_admin.id).values(is_active=False))
        db.session.commit()
    assert client.get("/account").status_code == 302


def test_a_person_sees_and_ends_their_own_sessions(app, client, school_admin) -> None:
    signed_in(client, school_admin)
    laptop = app.test_client()
    signed_in(laptop, school_admin)
    page = client.get("/account")
    text = page.get_data(as_text=True)
    assert "(this one)" in text
    assert text.count("End the session signed in") == 1
    ids = [int(i) for i in re.findall(r"/account/sessions/(\d+)/end", text)]
    assert len(ids) == 2
    with app.app_context():
        mine = db.session.scalar(
            select(UserSession.id)
            .where(UserSession.user_id == school_admin.id)
            .order_by(UserSession.id)
        )
    client.post(
        f"/account/sessions/{mine}/end", data={"csrf_token": csrf(page)}
    )  # the first: client's
    assert client.get("/account").status_code == 302
    assert laptop.get("/account").status_code == 200


def test_changing_the_password_ends_the_other_sessions(app, client, school_admin) -> None:
    signed_in(client, school_admin)
    phone = app.test_client()
    signed_in(phone, school_admin)
    page = client.get("/account")
    weak = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(page),
            "current": PASSWORD,
            "new": "Password123456",
            "confirm": "Password123456",
        },
    )
    assert weak.status_code == 400
    assert "commonly used password" in weak.get_data(as_text=True)
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(page),
            "current": "nope",
            "new": "violet lantern orbit 42",
            "confirm": "violet lantern orbit 42",
        },
    )
    assert "not your current password" in wrong.get_data(as_text=True)
    done = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(page),
            "current": PASSWORD,
            "new": "violet lantern orbit 42",
            "confirm": "violet lantern orbit 42",
        },
    )
    assert done.status_code == 302
    assert client.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302
    with app.app_context():
        user = db.session.get(User, school_admin.id)
        assert user.check_password("violet lantern orbit 42")


def test_nobody_ends_another_persons_session(app, client, school_admin, make_user, school) -> None:
    other = make_user(Role.SCHOOL_ADMIN, school=school)
    victim = app.test_client()
    signed_in(victim, other)
    signed_in(client, school_admin)
    with app.app_context():
        theirs = db.session.scalar(select(UserSession.id).where(UserSession.user_id == other.id))
    page = client.get("/account")
    refused = client.post(f"/account/sessions/{theirs}/end", data={"csrf_token": csrf(page)})
    assert refused.status_code == 404
    assert victim.get("/account").status_code == 200
