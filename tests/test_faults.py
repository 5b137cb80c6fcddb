"""Faults: PostgreSQL restarted under load. The test runs a private PostgreSQL of its own (never
the shared one), two gunicorn servers against it, and stops and starts the database mid-load."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from authserver import create_app
from authserver.extensions import db
from tests.conftest import unavailable
from tests.live_processes import (
    GENEROUS_RATE_LIMITS,
    LiveServer,
    PrivatePostgres,
    Unavailable,
    app_on,
    running,
)
from tests.oauth_flow import basic_auth
from tests.scenario_client import CLIENT_TIMEOUT_SECONDS
from tests.scenario_load import restart_under_load, seed_world

pytestmark = pytest.mark.live


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        database = PrivatePostgres()
    except Unavailable as missing:
        unavailable(str(missing))
    with database:
        yield database


def test_postgresql_restarted_under_load_answers_503_recovers_and_loses_nothing(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    app = app_on(private_postgres.url, tmp_path / "instance")
    world = seed_world(app, waiting_schools=300)
    live = {"instance_path": tmp_path / "live", "environment": GENEROUS_RATE_LIMITS}
    first = LiveServer(private_postgres.url, **live)
    second = LiveServer(private_postgres.url, issuer=first.url, **live)
    with running(first, second):
        result, recoveries = restart_under_load(
            app, private_postgres, world, [first.url, second.url], replies_per_phase=30
        )
        for server in (first, second):
            assert server.is_running()  # recovered by itself: nobody restarted gunicorn
            assert "Traceback" not in server.log()
    with app.app_context():
        db.engine.dispose()

    assert result.problems == []
    assert result.lost == []
    outcomes = Counter((r.kind, r.outcome) for r in result.replies)
    # Every kind of request met the outage (an approval meets it at its consent page).
    for kind in ("token", "introspect", "api", "approval page"):
        assert outcomes[(kind, "503")] >= 1, outcomes
    assert outcomes[("approval", "3xx")] >= 2
    assert outcomes[("claim", "2xx")] >= 2
    assert recoveries[0] is not None
    assert recoveries[0] < 5


@pytest.mark.postgresql_only
def test_a_connection_dropped_after_the_answer_was_made_does_not_spoil_it(app, client) -> None:
    """A restart can end the connection between the answer and the session's rollback."""
    from sqlalchemy import text

    @app.get("/answer-then-lose-the-connection")
    def answer() -> str:
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with db.engine.connect() as other:
            # PostgreSQL 14+: wait (up to 5 s) until that backend has really gone.
            other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        return "answered"

    response = client.get("/answer-then-lose-the-connection")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "answered"
    assert client.get("/.well-known/oauth-authorization-server").status_code == 200


def test_a_database_that_never_answers_gets_a_503_not_a_hang(tmp_path: Path) -> None:
    """The database accepts the connection and then says nothing (a network fault, a stuck
    server): the request is answered 503 with Retry-After within the client's patience."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes connections; nobody ever answers them
        port = silent.getsockname()[1]
        app = create_app(
            {
                "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/silent",
                "APP_ENV": "testing",
                "INSTANCE_PATH": str(tmp_path),
                "SECRET_KEY": "silent",
            }
        )
        started = time.monotonic()
        response = app.test_client().post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth("some-client", "some-secret"),
        )
        waited = time.monotonic() - started
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"]
    assert waited < CLIENT_TIMEOUT_SECONDS
