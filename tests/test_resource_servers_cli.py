"""`flask resource-servers add|rotate|list|remove`: the operator's way to manage them."""

from __future__ import annotations

import re

from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, ResourceServer
from tests.oauth_flow import basic_auth


def introspect(client, client_id: str, secret: str) -> int:
    return client.post(
        "/oauth/introspect", data={"token": "x" * 43}, headers=basic_auth(client_id, secret)
    ).status_code


def credentials_of(output: str) -> tuple[str, str]:
    client_id = re.search(r"client_id:\s+(\S+)", output)
    secret = re.search(r"client_secret:\s+(\S+)", output)
    assert client_id, output
    assert secret, output
    return client_id.group(1), secret.group(1)


def test_add_list_rotate_and_remove(app, cli, client) -> None:
    added = cli.invoke(
        args=[
            "resource-servers",
            "add",
            "--name",
            "Homework API",
            "--url",
            "https://hw.example.net/api",
        ]
    )
    assert added.exit_code == 0, added.output
    client_id, secret = credentials_of(added.output)
    assert introspect(client, client_id, secret) == 200

    listed = cli.invoke(args=["resource-servers", "list"])
    assert f"{client_id}  https://hw.example.net/api  Homework API" in listed.output
    assert secret not in listed.output

    rotated = cli.invoke(args=["resource-servers", "rotate", client_id, "--overlap-minutes", "0"])
    assert rotated.exit_code == 0, rotated.output
    _, new_secret = credentials_of("client_id: x\n" + rotated.output)
    assert "stopped working now" in rotated.output
    assert introspect(client, client_id, secret) == 401
    assert introspect(client, client_id, new_secret) == 200

    overlapping = cli.invoke(args=["resource-servers", "rotate", client_id])
    assert "keeps working for 60 minute(s)" in overlapping.output
    _, newest = credentials_of("client_id: x\n" + overlapping.output)
    assert introspect(client, client_id, new_secret) == 200
    assert introspect(client, client_id, newest) == 200

    removed = cli.invoke(args=["resource-servers", "remove", client_id])
    assert removed.exit_code == 0, removed.output
    assert introspect(client, client_id, newest) == 401
    assert (
        "No resource server is registered." in cli.invoke(args=["resource-servers", "list"]).output
    )

    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
        assert actions.count("resource_server:secret_rotated") == 2
        assert {"resource_server:registered", "resource_server:removed"} <= set(actions)
        assert db.session.scalar(select(ResourceServer)) is None


def test_bad_input_is_a_usage_error(cli) -> None:
    refused = cli.invoke(
        args=["resource-servers", "add", "--name", "X", "--url", "https://x.example.net/a#b"]
    )
    assert refused.exit_code == 2
    assert "fragment" in refused.output
    unknown = cli.invoke(args=["resource-servers", "remove", "rs_nobody"])
    assert unknown.exit_code == 2
    assert "No resource server has the client id rs_nobody" in unknown.output
