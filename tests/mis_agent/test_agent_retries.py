"""The reference connector's patience: which answers it retries and how long it waits, what it
says when nobody answers, and its token kept for its lifetime and renewed when refused."""

from __future__ import annotations

import email.utils

import pytest
import requests
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models.connectors import ConnectorToken
from mis_agent import connector_api
from mis_agent.connector_api import AgentError, ConnectorAPI, Token, pause_before_retry
from tests.live_processes import free_port

NOW = 1_900_000_000.0


def answer(status: int, error: str | None = None, retry_after: str | None = None):
    """An HTTP answer as `requests` hands it over."""
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    response._content = b'{"error": "%s"}' % error.encode() if error else b""
    return response


@pytest.mark.parametrize(
    ("status", "error", "retry_after", "attempt", "pause"),
    [
        (503, None, None, 1, 1.0),
        (503, "temporarily_unavailable", None, 3, 4.0),
        (502, None, None, 2, 2.0),
        (429, "too_many_requests", "7", 1, 7.0),
        (429, None, email.utils.formatdate(NOW + 30, usegmt=True), 1, 30.0),
        (429, None, "3600", 1, connector_api.MAX_PAUSE_SECONDS),
        (409, "in_progress", "5", 1, 5.0),
        (503, None, None, 20, None),  # attempts used up
        (503, None, None, connector_api.MAX_ATTEMPTS, None),
        (409, "sync_paused", "60", 1, None),  # the school decides when, not a timer
        (409, "conflict", None, 1, None),
        (422, "invalid_request", None, 1, None),
        (400, "invalid_request", None, 1, None),
        (404, "not_found", None, 1, None),
        (200, None, None, 1, None),
    ],
)
def test_what_is_retried_and_after_how_long(status, error, retry_after, attempt, pause) -> None:
    response = answer(status, error, retry_after)
    assert pause_before_retry(response, attempt, now=NOW) == pytest.approx(pause)


def test_no_answer_is_retried_with_back_off_then_said_in_words() -> None:
    pauses: list[float] = []
    api = ConnectorAPI(f"http://127.0.0.1:{free_port()}", "id", "secret", sleep=pauses.append)
    with pytest.raises(AgentError, match=r"No answer from .* after 8 attempts: ConnectionError"):
        api.get_json("status")
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def tokens_issued(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ConnectorToken))


def test_a_token_serves_until_refused_then_one_new_one_is_fetched(app, agent_api) -> None:
    agent_api.get_json("status")
    agent_api.get_json("writebacks")
    assert tokens_issued(app) == 1
    agent_api._token = Token("not-a-token-the-server-gave", expires_at=float("inf"))
    assert agent_api.get_json("status")["runs"] == []
    assert tokens_issued(app) == 2
    assert agent_api._token.value != "not-a-token-the-server-gave"


def test_a_wrong_secret_is_said_in_words(agent_api) -> None:
    agent_api.client_secret = "wrong"
    agent_api._token = None
    with pytest.raises(AgentError, match="The server gave no token: 401 invalid_client"):
        agent_api.get_json("status")
