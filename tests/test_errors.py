"""Failures are answered in the caller's language, never as a bare 500 page."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver import create_app
from tests.oauth_flow import basic_auth


@pytest.fixture
def app_without_database(tmp_path: Path):
    # A database file in a folder that does not exist: every query fails to connect.
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}",
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "errors",
        }
    )


def test_an_unreachable_database_is_a_503_with_retry_after_for_machines(
    app_without_database,
) -> None:
    client = app_without_database.test_client()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("some-client", "some-secret"),
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unreachable_database_is_a_readable_503_page_for_people(app_without_database) -> None:
    client = app_without_database.test_client()
    with client.session_transaction() as session:
        session["sid"] = "a-session-the-database-cannot-be-asked-about"
    response = client.get("/schools")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "Temporarily unavailable" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"


def test_an_unexpected_error_is_a_500_page_that_leaks_nothing(app, client) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("internal detail that must not leak")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "internal detail" not in response.get_data(as_text=True)
    assert "Something went wrong" in response.get_data(as_text=True)
