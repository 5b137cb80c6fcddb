"""A connector's credentials: client credentials for one school's MIS data and nothing else,
a secret kept as a digest, rotated with an overlap, revoked at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from authserver.domain import connectors
from authserver.extensions import db
from authserver.models.connectors import Connector, ConnectorToken
from authserver.models.mis.students import Student
from tests.api.school_view import Vendor
from tests.connector.conftest import Agent, pupil
from tests.oauth_flow import basic_auth


def test_a_connector_token_writes_its_school_and_reads_nothing_of_the_vendor_api(
    app, client, agent, world
) -> None:
    response = agent.token_response()
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    token = body["access_token"]
    assert agent.call("GET", "status", token=token).get_json()["school"]["urn"]
    for path in ("/api/v1/students", "/api/v1/school", "/api/v1/connections"):
        refused = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401, path
        assert refused.get_json()["error"] == "invalid_token"
    # And a vendor's school token is unknown on the connector API.
    vendor_token = world.token()
    refused = client.get(
        "/connector/v1/status", headers={"Authorization": f"Bearer {vendor_token}"}
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_connector_writes_only_its_own_school(app, client, agent, make_school, world) -> None:
    other_school = make_school(name="Elsewhere Academy")
    other = Agent(app, client, other_school.id)
    assert other.changes({"student": {"upsert": [pupil(1)]}}).status_code == 200
    with app.app_context():
        schools = db.session.scalars(select(Student.school_id)).all()
    assert schools == [other_school.id]
    # The first school's vendor sees none of it.
    assert Vendor(world).get("students", world.token()).get_json()["data"] == []


def test_a_connector_asks_for_no_scope_and_uses_no_other_grant(agent) -> None:
    assert agent.token_response(scope="StudentLite").get_json()["error"] == "invalid_scope"
    refused = agent.token_response(grant_type="refresh_token", refresh_token="x")
    assert refused.get_json()["error"] == "unauthorized_client"
    wrong = agent.token_response(secret="not-the-secret")
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_client"


def test_introspection_does_not_know_connector_tokens(client, agent, resource_server) -> None:
    server, secret = resource_server
    response = client.post(
        "/oauth/introspect",
        data={"token": agent.token()},
        headers=basic_auth(server.client_id, secret),
    )
    assert response.get_json() == {"active": False}


def test_the_secret_is_kept_only_as_a_digest(app, agent) -> None:
    with app.app_context():
        stored = db.session.scalar(select(Connector))
        assert agent.client_secret not in repr(stored.__dict__)
        assert stored.client_secret_digest != agent.client_secret
        token = agent.token()
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(ConnectorToken)
                .where(ConnectorToken.access_token_digest == token)
            )
            == 0
        )


def test_rotation_keeps_the_old_secret_for_the_overlap_only(app, agent) -> None:
    old = agent.client_secret
    with app.app_context():
        connector = connectors.find(db.session, agent.client_id)
        new = connectors.rotate_secret(
            db.session, connector, actor="test", overlap=dt.timedelta(hours=1)
        )
        db.session.commit()
    assert agent.token_response(secret=old).status_code == 200
    assert agent.token_response(secret=new).status_code == 200
    with app.app_context():
        connector = connectors.find(db.session, agent.client_id)
        connector.previous_secret_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    assert agent.token_response(secret=old).status_code == 401
    assert agent.token_response(secret=new).status_code == 200


def test_rotation_without_overlap_ends_the_old_secret_and_its_tokens_now(app, agent) -> None:
    token = agent.token()
    with app.app_context():
        connector = connectors.find(db.session, agent.client_id)
        new = connectors.rotate_secret(db.session, connector, actor="test", overlap=dt.timedelta(0))
        db.session.commit()
    assert agent.call("GET", "status", token=token).status_code == 401
    assert agent.token_response().status_code == 401
    assert agent.token_response(secret=new).status_code == 200


def test_revoking_ends_the_connector_at_once(app, agent) -> None:
    token = agent.token()
    with app.app_context():
        connectors.revoke(db.session, connectors.find(db.session, agent.client_id), actor="test")
        db.session.commit()
    assert agent.call("GET", "status", token=token).status_code == 401
    assert agent.token_response().status_code == 401


def test_an_operator_adds_rotates_and_revokes_from_the_command_line(app, cli, world) -> None:
    with app.app_context():
        from authserver.models.organisations import School

        urn = db.session.get(School, world.school_id).urn
    added = cli.invoke(args=["mis", "connector", "add", "--school", urn, "--name", "Arbor sync"])
    assert added.exit_code == 0, added.output
    lines = dict(
        line.split(":", 1) for line in added.output.splitlines() if line.startswith("client_")
    )
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    listed = cli.invoke(args=["mis", "connector", "list", "--school", urn])
    assert client_id in listed.output
    assert secret not in listed.output
    rotated = cli.invoke(args=["mis", "connector", "rotate", client_id, "--overlap-hours", "0"])
    assert rotated.exit_code == 0
    assert "stopped working now" in rotated.output
    revoked = cli.invoke(args=["mis", "connector", "revoke", client_id])
    assert revoked.exit_code == 0
    with app.app_context():
        assert connectors.find(db.session, client_id).revoked_at is not None
    unknown = cli.invoke(args=["mis", "connector", "add", "--school", "000000"])
    assert unknown.exit_code != 0
    assert "No school has the URN 000000" in unknown.output
