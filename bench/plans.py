"""The query plans of the hot paths, as PostgreSQL runs them: each SELECT the real requests
send (client lookup, token lookup, school secret, a page of pupils), under EXPLAIN ANALYZE.

Run as `python -m bench.plans WORLD.json` with DATABASE_URL set; prints Markdown.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event

from authserver import create_app
from authserver.extensions import db
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE as SCHOOL_SECRET_GRANT


def _basic(client_id: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def capture(app: Any, send: Any) -> list[tuple[str, Any]]:
    """The SELECT statements (with parameters) that one request sends."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = send()
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)}")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def explain(app: Any, statement: str, parameters: Any) -> str:
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
        )
        return "\n".join(row[0] for row in rows)


def main(world_file: str) -> None:
    world = json.loads(Path(world_file).read_text())
    app = create_app()
    client = app.test_client()
    vendor = _basic(world["client_id"], world["client_secret"])
    secret_form = {
        "grant_type": SCHOOL_SECRET_GRANT,
        "school_id": str(world["school_id"]),
        "school_secret": world["school_secret"],
        "scope": world["token_scope"],
    }
    token = client.post("/oauth/token", data=secret_form, headers=vendor).get_json()
    server = world["resource_server"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    requests = {
        "token: school secret": lambda: client.post(
            "/oauth/token", data=secret_form, headers=vendor
        ),
        "introspection": lambda: client.post(
            "/oauth/introspect",
            data={"token": token["access_token"]},
            headers=_basic(server["client_id"], server["client_secret"]),
        ),
        "API: 1,000 students": lambda: client.get("/api/v1/students?limit=1000", headers=bearer),
    }
    print("# Query plans of the hot paths\n")
    for name, send in requests.items():
        print(f"## {name}\n")
        for statement, parameters in capture(app, send):
            print("```sql\n" + " ".join(statement.split()) + "\n```\n")
            print("```\n" + explain(app, statement, parameters) + "\n```\n")


if __name__ == "__main__":
    main(sys.argv[1])
