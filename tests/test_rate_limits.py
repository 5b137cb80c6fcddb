"""Rate limits on the machine endpoints: the token endpoint per client, introspection per
resource server, the resource API per access token; over the limit, a 429 with Retry-After in
the protocol's own error format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver import create_app
from authserver.config import ConfigError, load_settings
from authserver.domain.credentials import digest
from tests.conftest import unavailable
from tests.oauth_flow import basic_auth

TOKEN_LIMIT = 3
INTROSPECTION_LIMIT = 4
API_LIMIT = 5
# A database number of its own, so these counts never meet another suite's.
REDIS_TEST_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {
        "TOKEN_REQUESTS_PER_CLIENT": f"{TOKEN_LIMIT} per minute",
        "INTROSPECTION_REQUESTS_PER_RESOURCE_SERVER": f"{INTROSPECTION_LIMIT} per minute",
        "API_REQUESTS_PER_TOKEN": f"{API_LIMIT} per minute",
    }


def client_credentials(client: FlaskClient, client_id: str, secret: str) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    )


def vendor_token(client: FlaskClient, client_id: str, secret: str) -> str:
    response = client_credentials(client, client_id, secret)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def introspect(client: FlaskClient, server_id: str, secret: str, token: str | None = None) -> Any:
    return client.post(
        "/oauth/introspect",
        data={"token": token or "not-a-token"},
        headers=basic_auth(server_id, secret),
    )


def connections(client: FlaskClient, token: str) -> Any:
    return client.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})


def assert_rate_limited(response: Any, error: str) -> None:
    """A 429 that says when to come back, in JSON, and is never cached."""
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error
    assert "Retry-After" in body["error_description"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["Cache-Control"] == "no-store"


# --- The token endpoint, per client ---------------------------------------------------------


def test_the_token_endpoint_limits_each_client(client, vendor_app, make_app) -> None:
    application, secret = vendor_app
    for _ in range(TOKEN_LIMIT):
        assert client_credentials(client, application.client_id, secret).status_code == 200
    assert_rate_limited(client_credentials(client, application.client_id, secret), "slow_down")
    # Another client from the same address has its own allowance.
    other, other_secret = make_app(name="Lunch Ledger")
    assert client_credentials(client, other.client_id, other_secret).status_code == 200


def test_the_token_limit_counts_a_client_in_the_body_too(client, make_app) -> None:
    application, secret = make_app(token_endpoint_auth_method="client_secret_post")
    form = {
        "grant_type": "client_credentials",
        "client_id": application.client_id,
        "client_secret": secret,
    }
    for _ in range(TOKEN_LIMIT):
        assert client.post("/oauth/token", data=form).status_code == 200
    assert_rate_limited(client.post("/oauth/token", data=form), "slow_down")


def test_refused_grants_of_an_authenticated_client_count(client, vendor_app) -> None:
    application, secret = vendor_app
    for _ in range(TOKEN_LIMIT):
        refused = client.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": "made-up", "code_verifier": "x"},
            headers=basic_auth(application.client_id, secret),
        )
        assert refused.get_json()["error"] == "invalid_grant"
    assert_rate_limited(client_credentials(client, application.client_id, secret), "slow_down")


def test_nobody_can_spend_a_clients_allowance_without_its_secret(client, vendor_app) -> None:
    # A client_id is public; failed authentications must not lock the vendor out.
    application, secret = vendor_app
    for _ in range(TOKEN_LIMIT * 3):
        wrong = client_credentials(client, application.client_id, "not-the-secret")
        assert wrong.status_code == 401
        assert wrong.get_json()["error"] == "invalid_client"
    assert client_credentials(client, application.client_id, secret).status_code == 200


# --- Introspection, per resource server -----------------------------------------------------


def test_introspection_limits_each_resource_server(
    client, resource_server, make_resource_server
) -> None:
    server, secret = resource_server
    for _ in range(INTROSPECTION_LIMIT):
        assert introspect(client, server.client_id, secret).get_json() == {"active": False}
    assert_rate_limited(introspect(client, server.client_id, secret), "slow_down")
    other, other_secret = make_resource_server(name="Another resource server")
    assert introspect(client, other.client_id, other_secret).status_code == 200


def test_an_applications_token_and_introspection_allowances_are_separate(
    client, vendor_app
) -> None:
    # An application may introspect its own tokens, on an allowance apart from its token one.
    application, secret = vendor_app
    token = vendor_token(client, application.client_id, secret)
    for _ in range(TOKEN_LIMIT - 1):
        client_credentials(client, application.client_id, secret)
    assert client_credentials(client, application.client_id, secret).status_code == 429
    response = introspect(client, application.client_id, secret, token)
    assert response.status_code == 200
    assert response.get_json()["active"] is True


# --- The resource API, per access token -----------------------------------------------------


def test_the_api_limits_each_token_across_every_resource(client, vendor_app) -> None:
    application, secret = vendor_app
    token = vendor_token(client, application.client_id, secret)
    other_token = vendor_token(client, application.client_id, secret)
    for _ in range(API_LIMIT - 1):
        assert connections(client, token).status_code == 200
    # The allowance is one for the whole API, whichever resource the token reads.
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/school", headers=headers).status_code == 401
    limited = connections(client, token)
    assert_rate_limited(limited, "too_many_requests")
    assert "WWW-Authenticate" not in limited.headers
    # Another token of the same application, from the same address, is unaffected.
    assert connections(client, other_token).status_code == 200


def test_requests_without_a_token_count_against_the_address(client) -> None:
    for _ in range(API_LIMIT):
        assert client.get("/api/v1/connections").status_code == 401
    assert_rate_limited(client.get("/api/v1/connections"), "too_many_requests")
    elsewhere = client.get("/api/v1/connections", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 401


# --- Settings -------------------------------------------------------------------------------


def test_the_defaults_suit_nightly_syncs(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert settings.token_requests_per_client == "300 per minute"
    assert settings.introspection_requests_per_resource_server == "6000 per minute"
    assert settings.api_requests_per_token == "1200 per minute"


def test_the_environment_sets_each_limit(tmp_path: Path) -> None:
    environ = {
        "TOKEN_REQUESTS_PER_CLIENT": "100000 per minute",
        "INTROSPECTION_REQUESTS_PER_RESOURCE_SERVER": "50 per second",
        "API_REQUESTS_PER_TOKEN": "10 per second; 1000 per hour",
    }
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=environ)
    assert settings.token_requests_per_client == "100000 per minute"
    assert settings.introspection_requests_per_resource_server == "50 per second"
    assert settings.api_requests_per_token == "10 per second; 1000 per hour"


@pytest.mark.parametrize(
    "name",
    [
        "TOKEN_REQUESTS_PER_CLIENT",
        "INTROSPECTION_REQUESTS_PER_RESOURCE_SERVER",
        "API_REQUESTS_PER_TOKEN",
        "SIGN_IN_FAILURES_PER_ACCOUNT",
        "SIGN_IN_FAILURES_PER_ADDRESS",
    ],
)
@pytest.mark.parametrize("value", ["lots", "0 per minute", "300 per fortnight"])
def test_a_limit_that_is_not_a_rate_stops_start_up(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be a rate"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={name: value})


# --- Storage: Redis shared by every worker, memory for one process --------------------------


@pytest.fixture
def redis_keys() -> Iterator[Callable[[], list[str]]]:
    """The keys in the test's Redis database (the test is skipped if Redis is unreachable)."""
    import redis

    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError as error:
        unavailable(f"Redis is unreachable at {REDIS_TEST_URL}: {error}")
    yield lambda: [key.decode() for key in connection.scan_iter(count=1000)]
    connection.close()


@pytest.fixture
def worker(
    database_url: str, tmp_path: Path, same_database: Callable[[Flask], Flask]
) -> Callable[[str], FlaskClient]:
    """Start another worker process's app on the same database, counting in `redis_url`."""
    started: list[Flask] = []

    def start(redis_url: str) -> FlaskClient:
        worker_app = same_database(
            create_app(
                {
                    "DATABASE_URL": database_url,
                    "APP_ENV": "testing",
                    "INSTANCE_PATH": str(tmp_path / f"worker{len(started)}"),
                    "SECRET_KEY": "test-secret-key-not-for-production",
                    "BCRYPT_ROUNDS": 4,
                    "REDIS_URL": redis_url,
                    "TOKEN_REQUESTS_PER_CLIENT": f"{TOKEN_LIMIT} per minute",
                }
            )
        )
        started.append(worker_app)
        return worker_app.test_client()

    return start


def test_workers_sharing_redis_share_one_count(worker, vendor_app, redis_keys) -> None:
    application, secret = vendor_app
    first = worker(REDIS_TEST_URL)
    for _ in range(TOKEN_LIMIT):
        assert client_credentials(first, application.client_id, secret).status_code == 200
    # A second worker (its own app, its own connection to Redis) sees the first one's count.
    second = worker(REDIS_TEST_URL)
    assert_rate_limited(client_credentials(second, application.client_id, secret), "slow_down")


def test_redis_holds_a_digest_of_each_token_never_the_token(worker, vendor_app, redis_keys) -> None:
    application, secret = vendor_app
    client = worker(REDIS_TEST_URL)
    token = vendor_token(client, application.client_id, secret)
    assert connections(client, token).status_code == 200
    keys = redis_keys()
    assert any(digest(token) in key for key in keys)
    assert not any(token in key for key in keys)


def test_without_redis_each_process_counts_alone(worker, vendor_app) -> None:
    application, secret = vendor_app
    first = worker("")
    for _ in range(TOKEN_LIMIT):
        assert client_credentials(first, application.client_id, secret).status_code == 200
    assert client_credentials(first, application.client_id, secret).status_code == 429
    second = worker("")
    assert client_credentials(second, application.client_id, secret).status_code == 200


@pytest.fixture
def limiter_recovers() -> Iterator[None]:
    yield
    from authserver.extensions import limiter

    # The limiter is one object per process, and production never swaps its storage; here the
    # next test's app brings a working one, so it must not inherit "Redis is down".
    limiter._storage_dead = False


def test_an_unreachable_redis_falls_back_to_counting_in_memory(
    worker, vendor_app, limiter_recovers
) -> None:
    # Nothing listens on port 1: every attempt to reach Redis is refused at once.
    application, secret = vendor_app
    client = worker("redis://127.0.0.1:1/0")
    for _ in range(TOKEN_LIMIT):
        assert client_credentials(client, application.client_id, secret).status_code == 200
    assert_rate_limited(client_credentials(client, application.client_id, secret), "slow_down")


def test_an_oversized_request_never_switches_redis_off(
    worker, vendor_app, redis_keys, limiter_recovers
) -> None:
    # Key functions read the form; a body too large to read must not look like Redis failing.
    application, secret = vendor_app
    client = worker(REDIS_TEST_URL)
    huge = {"email": "x" * (2 * 1024 * 1024), "password": "x"}
    assert client.post("/sign-in", data=huge).status_code == 413
    assert client.post("/oauth/token", data=huge).status_code == 413
    assert client_credentials(client, application.client_id, secret).status_code == 200
    assert any(application.client_id in key for key in redis_keys())
