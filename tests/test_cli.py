"""Operator commands: `demo seed` makes a working demo world once, and says what it made."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from tests.oauth_flow import basic_auth, csrf_token

SMALL = ["--schools", "2", "--students-per-school", "12"]
# Every demo person may manage something, so each has an authenticator set up.
LOGIN_KEYS = {"email", "password", "totp_secret", "recovery_codes"}


@pytest.fixture
def seeded(app, cli, tmp_path: Path) -> dict:
    target = tmp_path / "demo.json"
    result = cli.invoke(args=["demo", "seed", *SMALL, "--json", str(target)])
    assert result.exit_code == 0, result.output
    assert "Demo sign-ins" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    return json.loads(target.read_text())


def test_the_seed_sends_no_one_a_security_notice(app, seeded: dict) -> None:
    """The seed sets up the demo admins' authenticators itself: no "was this you?" emails."""
    from authserver.models.mail import OutboxMessage

    with app.app_context():
        templates = db.session.scalars(select(OutboxMessage.template_name)).all()
    assert [t for t in templates if "security" in t or "second_factor" in t] == []


def test_the_demo_members_find_the_sign_in_application_on_their_launchers(
    app, seeded: dict
) -> None:
    from authserver.domain import members
    from authserver.models.members import Member

    name = seeded["sign_in"]["application"]["name"]
    with app.app_context():
        everyone = db.session.scalars(select(Member)).all()
        assert len(everyone) == 3
        for member in everyone:
            assert [a.name for a in members.assigned_applications(db.session, member)] == [name]


def test_the_credentials_file_has_the_documented_shape(app, seeded: dict) -> None:
    assert seeded["issuer"] == app.config["SETTINGS"].issuer
    assert len(seeded["schools"]) == 2
    for school in seeded["schools"]:
        assert {"id", "urn", "name", "admin"} <= set(school)
        assert set(school["admin"]) == LOGIN_KEYS
    for key in ("trust_admin", "vendor_admin", "platform_admin"):
        assert set(seeded[key]) == LOGIN_KEYS
        assert len(seeded[key]["recovery_codes"]) == 10
    assert len(seeded["applications"]) == 3
    for application in seeded["applications"]:
        assert {
            "name",
            "client_id",
            "client_secret",
            "redirect_uris",
            "required_scopes",
            "optional_scopes",
        } <= set(application)
        assert application["required_scopes"]
    catering = next(a for a in seeded["applications"] if "Catering" in a["name"])
    assert "DietaryNeeds" in catering["required_scopes"]
    assert "StudentMedical" in catering["optional_scopes"]
    assert len(seeded["resource_servers"]) == 1
    assert set(seeded["resource_servers"][0]) == {"name", "url", "client_id", "client_secret"}
    assert seeded["resource_servers"][0]["url"].startswith("https://")


def test_the_printed_credentials_match_what_is_stored(app, seeded: dict) -> None:
    from authserver.models import Application, ResourceServer, User

    with app.app_context():
        admin = seeded["schools"][0]["admin"]
        user = db.session.scalar(select(User).where(User.email == admin["email"]))
        assert user.check_password(admin["password"])
        assert user.password_hash != admin["password"]
        for document in seeded["applications"]:
            application = db.session.scalar(
                select(Application).where(Application.client_id == document["client_id"])
            )
            assert application.client_secret_matches(document["client_secret"])
            assert application.client_secret_digest != document["client_secret"]
        server = seeded["resource_servers"][0]
        resource_server = db.session.scalar(
            select(ResourceServer).where(ResourceServer.client_id == server["client_id"])
        )
        assert resource_server.client_secret_matches(server["client_secret"])


def test_the_printed_credentials_work_over_http(client, cli, seeded: dict) -> None:
    admin = seeded["schools"][0]["admin"]
    page = client.get("/sign-in")
    signed_in = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": admin["email"],
            "password": admin["password"],
        },
    )
    assert signed_in.headers["Location"].startswith("/sign-in/code")
    # The code as the documented command prints it (what an authenticator app would show).
    printed = cli.invoke(args=["demo", "code", admin["email"]])
    assert printed.exit_code == 0, printed.output
    assert printed.output.strip() == pyotp.TOTP(admin["totp_secret"]).now()
    code_page = client.get(signed_in.headers["Location"])
    in_with_code = client.post(
        signed_in.headers["Location"],
        data={
            "csrf_token": csrf_token(code_page.get_data(as_text=True)),
            "code": printed.output.strip(),
        },
    )
    assert in_with_code.status_code == 302
    assert client.get("/account").status_code == 200
    application = seeded["applications"][0]
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(application["client_id"], application["client_secret"]),
    )
    assert token.status_code == 200
    server = seeded["resource_servers"][0]
    info = client.post(
        "/oauth/introspect",
        data={"token": token.get_json()["access_token"]},
        headers=basic_auth(server["client_id"], server["client_secret"]),
    )
    assert info.get_json()["active"] is True


def test_seeding_again_changes_nothing(app, cli, seeded: dict, tmp_path: Path) -> None:
    from authserver.models import User
    from authserver.models.mis import ENTITIES

    def counts() -> dict[str, int]:
        with app.app_context():
            tables = {
                name: db.session.scalar(select(func.count()).select_from(model))
                for name, model in ENTITIES.items()
            }
            tables["users"] = db.session.scalar(select(func.count()).select_from(User))
            return tables

    before = counts()
    result = cli.invoke(args=["demo", "seed", *SMALL, "--json", str(tmp_path / "demo.json")])
    assert result.exit_code == 0
    assert "already there" in result.output
    assert counts() == before
    # The sign-ins are shown again from the file written the first time.
    assert seeded["schools"][0]["admin"]["email"] in result.output


def test_the_demo_data_is_deterministic(app, cli, tmp_path: Path) -> None:
    from authserver import create_app
    from authserver.models.mis import ENTITIES

    def student_names(application) -> list[tuple]:
        student = ENTITIES["student"]
        with application.app_context():
            return db.session.execute(
                select(
                    student.forename,
                    student.surname,
                    student.date_of_birth,
                    student.enrolment_status,
                ).order_by(student.id)
            ).all()

    assert cli.invoke(args=["demo", "seed", *SMALL]).exit_code == 0
    other = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path / "other"),
            "SECRET_KEY": "other",
            "BCRYPT_ROUNDS": 4,
        }
    )
    with other.app_context():
        db.create_all()
    assert other.test_cli_runner().invoke(args=["demo", "seed", *SMALL]).exit_code == 0
    first, second = student_names(app), student_names(other)
    assert sum(1 for row in first if row.enrolment_status == "current") == 24
    assert first == second
    with other.app_context():
        db.engine.dispose()


def test_the_first_school_is_a_term_into_its_use(app, client, seeded: dict) -> None:
    """Not an empty dashboard: a connection with a term of reads, a request waiting, and a
    connector whose fortnight of nightly syncs includes a failed one and its error."""
    from authserver.domain import field_use, sync_health
    from authserver.models.grants import AccessRequest, Grant
    from authserver.models.sync import SyncRun

    school = seeded["schools"][0]
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.school_id == school["id"]))
        assert grant.application.name == "Lunchbox Catering"
        assert grant.approved_at.month in (8, 9)
        uses = field_use.uses_of([grant], today=grant.last_used_at.date())
        assert uses[grant.id].scopes_read
        waiting = db.session.scalar(
            select(AccessRequest).where(AccessRequest.school_id == school["id"])
        )
        assert (waiting.application.name, waiting.status) == ("Safe Haven", "pending")
        runs = list(db.session.scalars(select(SyncRun).where(SyncRun.school_id == school["id"])))
        assert len(runs) == 14
        [failed] = [r for r in runs if r.state == "failed"]
        assert "is not a valid UPN" in failed.summary
        assert sync_health.health_of(db.session, school["id"]).state == "ok"
    [connector] = seeded["connectors"]
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(connector["client_id"], connector["client_secret"]),
    )
    assert token.status_code == 200


def test_each_demo_school_has_its_public_privacy_page(client, seeded: dict) -> None:
    """As the README says: the first school's catering application (not the request waiting),
    and the second school's sign-in application, listed as signing people in."""
    first, second = seeded["schools"]
    page = client.get(f"/schools/{first['urn']}/privacy").get_data(as_text=True)
    assert "Lunchbox Catering" in page
    assert "Safe Haven" not in page
    assert "Sensitive" in page
    page = client.get(f"/schools/{second['urn']}/privacy").get_data(as_text=True)
    assert seeded["sign_in"]["application"]["name"] in page
    assert "Signs people in" in page


def test_the_demo_loads_a_sample_of_the_register(app, cli, seeded: dict) -> None:
    """The demo schools are in the register as they are on the platform, with others a
    platform admin can onboard; importing the sample again changes nothing."""
    from authserver.models import Establishment, School, Trust

    with app.app_context():
        register = {e.urn: e for e in db.session.scalars(select(Establishment))}
        for school in db.session.scalars(select(School)):
            assert register[school.urn].name == school.name
            assert school.trust is not None
            assert school.trust.code == register[school.urn].trust_code
        assert len(register) > db.session.scalar(select(func.count()).select_from(School))
        assert db.session.scalar(select(func.count()).select_from(Trust)) == 1
    from tests.register_files import SAMPLE

    again = cli.invoke(args=["establishments", "import", str(SAMPLE)])
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 0 closed, 11 unchanged" in again.output
    assert "0 school(s) updated, 0 closed" in again.output


def test_the_printed_sign_ins_show_each_authenticator_key(cli, seeded: dict) -> None:
    result = cli.invoke(args=["demo", "logins", "--help"])
    assert result.exit_code == 0
    from authserver.cli import format_logins

    text = format_logins(seeded)
    assert f"authenticator key: {seeded['trust_admin']['totp_secret']}" in text
    assert "flask --app wsgi demo code EMAIL" in text


@pytest.mark.parametrize(
    ("email", "message"),
    [("someone@school.invalid", "not a demo account"), ("nobody@example.org", "no authenticator")],
)
def test_the_code_command_is_only_for_demo_accounts(cli, seeded: dict, email, message) -> None:
    result = cli.invoke(args=["demo", "code", email])
    assert result.exit_code != 0
    assert message in result.output


def test_the_demo_school_admin_signs_in_to_apps_as_printed(client, seeded: dict) -> None:
    from authserver.cli import format_logins

    sign_in = seeded["sign_in"]
    admin = sign_in["school_admin"]
    assert f"with the admin account {admin['login']} and its code" in format_logins(seeded)
    account = next(s["admin"] for s in seeded["schools"] if s["urn"] == sign_in["school_urn"])
    assert account["email"] == admin["login"]
    page = client.get("/sign-in")
    signed_in = client.post(
        f"/sign-in?next={admin['sign_in'].replace('?', '%3F').replace('=', '%3D')}",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": account["email"],
            "password": account["password"],
        },
    )
    code_page = client.get(signed_in.headers["Location"])
    in_with_code = client.post(
        signed_in.headers["Location"],
        data={
            "csrf_token": csrf_token(code_page.get_data(as_text=True)),
            "code": pyotp.TOTP(account["totp_secret"]).now(),
        },
    )
    assert in_with_code.headers["Location"] == admin["sign_in"]
    confirm = client.get(admin["sign_in"])
    assert confirm.status_code == 200, confirm.get_data(as_text=True)[:500]
    assert admin["name"] in confirm.get_data(as_text=True)
    done = client.post(
        admin["sign_in"], data={"csrf_token": csrf_token(confirm.get_data(as_text=True))}
    )
    assert done.status_code == 302
    home = client.get(done.headers["Location"])
    assert seeded["sign_in"]["application"]["name"] in home.get_data(as_text=True)
