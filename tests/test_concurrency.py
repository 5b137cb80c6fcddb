"""Concurrency on PostgreSQL: single-use codes, rotating refresh tokens and a scope change hold
under simultaneous requests, in one process and across two gunicorn servers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from tests.live_processes import LiveServer, running
from tests.oauth_flow import OAuthFlow
from tests.scenarios import (
    REDIRECT_URI,
    Reply,
    Send,
    code_race,
    live,
    prepare_scope_change,
    refresh_race,
    scope_change_race,
)

pytestmark = pytest.mark.postgresql_only

Senders = Callable[[int], list[Send]]


def in_process(app: Flask) -> Send:
    """Send through a test client of its own (so each thread keeps its own cookies)."""
    client = app.test_client()

    def send(
        method: str, path: str, *, data: dict | None = None, headers: dict | None = None
    ) -> Reply:
        started = time.monotonic()
        response = client.open(path, method=method, data=data, headers=headers)
        body = response.get_json(silent=True)
        if body is None and response.mimetype == "text/html":
            body = {"html": response.get_data(as_text=True)}
        return Reply(response.status_code, body, dict(response.headers), started, time.monotonic())

    return send


@pytest.fixture(scope="module")
def two_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """Two gunicorn servers (two workers each) on their own ports, sharing the test database,
    as production runs several behind a load balancer."""
    instance = tmp_path_factory.mktemp("live")
    first = LiveServer(database_url, instance_path=instance)
    second = LiveServer(database_url, issuer=first.url, instance_path=instance)
    with running(first, second):
        yield [first, second]
        for server in (first, second):
            assert server.is_running()
            assert "Traceback" not in server.log()


@pytest.fixture(params=["one process", "two gunicorn servers"])
def senders(request: pytest.FixtureRequest, app: Flask) -> Senders:
    """`senders(n)`: n ways to send requests, each its own client, spread over the servers."""
    if request.param == "one process":
        return lambda n: [in_process(app) for _ in range(n)]
    servers = request.getfixturevalue("two_servers")
    return lambda n: [live(servers[i % len(servers)].url, requests.Session()) for i in range(n)]


@pytest.fixture
def flow(client, vendor_app, school_admin) -> OAuthFlow:
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return flow


@pytest.fixture
def resource_server_credentials(resource_server) -> tuple[str, str]:
    server, secret = resource_server
    return server.client_id, secret


def test_one_code_redeemed_twenty_times_at_once_wins_once_and_its_tokens_die(
    app, flow, senders, resource_server_credentials
) -> None:
    from authserver.models import AuditEvent

    result = code_race(
        senders(20),
        code=flow.code(),
        verifier=flow.verifier,
        client=(flow.client_id, flow.client_secret),
        resource_server=resource_server_credentials,
    )
    assert Counter((r.status, r.error) for r in result.replies) == {
        (200, None): 1,
        (400, "invalid_grant"): 19,
    }
    assert result.problems == []
    with app.app_context():
        replays = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "code:replayed")
        ).all()
    assert replays  # RFC 6749 §4.1.2: the replay revoked what the code gave
    assert sum(event.detail["tokens_revoked"] for event in replays) >= 1


def test_one_refresh_token_used_twenty_times_at_once_wins_at_most_once_and_the_family_dies(
    app, flow, senders, resource_server_credentials
) -> None:
    from authserver.models import Token

    tokens = flow.tokens()
    result = refresh_race(
        senders(20),
        tokens=tokens,
        client=(flow.client_id, flow.client_secret),
        resource_server=resource_server_credentials,
    )
    statuses = Counter((r.status, r.error) for r in result.replies)
    assert statuses[(200, None)] <= 1
    assert statuses[(200, None)] + statuses[(400, "invalid_grant")] == 20
    assert result.problems == []
    with app.app_context():
        family = db.session.scalars(select(Token).where(Token.user_id.is_not(None))).all()
    assert len(family) == 1 + statuses[(200, None)]
    assert all(token.revoked_at is not None for token in family)


def test_a_scope_change_approved_while_the_vendor_claims_and_asks_stays_consistent(
    app, senders
) -> None:
    change = prepare_scope_change(app, label="concurrency")
    admins, vendors = senders(2), senders(4)
    result = scope_change_race(app, change, admin_sends=admins, vendor_sends=vendors, rounds=3)
    assert result.problems == []
    kinds = Counter((r.kind, r.status) for r in result.replies)
    assert kinds[("claim", 201)] == 6
    assert kinds[("token", 200)] == 12  # the old secret works on, within its overlap
    # The double click: one click approves; the other lands on the dashboard or is told that
    # the request has already been answered.
    approvals = [r for r in result.replies if r.kind == "approval"]
    assert sorted(r.status for r in approvals) in ([302, 302], [302, 400])
    assert all("already been answered" in r.body["html"] for r in approvals if r.status == 400)
