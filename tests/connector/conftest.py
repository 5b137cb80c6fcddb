"""The connector tests' world: a school with a vendor's connection (SchoolWorld) and an MIS
agent holding the school's connector credentials, talking HTTP as a real agent would."""

from __future__ import annotations

import gzip
import itertools
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver.domain import connectors
from authserver.extensions import db
from authserver.models.organisations import School
from tests.api.school_view import SCOPES, SchoolWorld
from tests.jobs.conftest import (  # noqa: F401  (the real brokers' fixtures, for these tests too)
    broker_url,
    fresh_rabbitmq,
    fresh_redis,
    queue_prefix,
    start_worker,
)
from tests.oauth_flow import basic_auth

NDJSON = "application/x-ndjson"


def upn(serial: int, la: str = "823", estab: str = "4012", year: int = 14) -> str:
    """A valid permanent UPN (its check letter worked out as the DfE says)."""
    body = f"{la}{estab}{year:02d}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, range(2, 14), strict=True))
    return "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23] + body


class Agent:
    """An MIS agent beside the school's MIS: client credentials, then /connector/v1 calls."""

    def __init__(self, app: Flask, client: FlaskClient, school_id: int) -> None:
        self.app, self.client, self.school_id = app, client, school_id
        with app.app_context():
            school = db.session.get(School, school_id)
            connector, self.client_secret = connectors.register(
                db.session, school, "SIMS agent", actor="test"
            )
            self.client_id = connector.client_id
            db.session.commit()
        self._token: str | None = None
        self.batches = itertools.count(1)

    def token_response(self, secret: str | None = None, **form: str) -> Any:
        return self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", **form},
            headers=basic_auth(self.client_id, secret or self.client_secret),
        )

    def token(self) -> str:
        if self._token is None:
            response = self.token_response()
            assert response.status_code == 200, response.get_json()
            self._token = response.get_json()["access_token"]
        return self._token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ndjson: list[Any] | None = None,
        compress: bool = False,
        token: str | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        data = raw
        if ndjson is not None:
            data = b"\n".join(orjson.dumps(line) for line in ndjson) + b"\n"
            content_type = NDJSON
        elif body is not None and raw is None:
            data = orjson.dumps(body)
        if compress and data is not None:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        return self.client.open(
            f"/connector/v1/{path}",
            method=method,
            data=data,
            headers=headers,
            content_type=content_type if data is not None else None,
        )

    def changes(self, body: Any = None, batch: str | None = None, **options: Any) -> Any:
        return self.call("PUT", f"changes/{batch or f'b{next(self.batches)}'}", body, **options)

    def snapshot(
        self, snapshot_id: str, batches: list[dict[str, Any]], *, allow: bool = False
    ) -> Any:
        """Open, send the batches, commit; the commit's answer."""
        entities = sorted({entity for batch in batches for entity in batch})
        opened = self.call("PUT", f"snapshots/{snapshot_id}", {"entities": entities})
        assert opened.status_code in (200, 201), opened.get_json()
        for number, batch in enumerate(batches):
            body = {entity: {"upsert": records} for entity, records in batch.items()}
            sent = self.call("PUT", f"snapshots/{snapshot_id}/batches/{number}", body)
            assert sent.status_code in (200, 201), sent.get_json()
        return self.call("POST", f"snapshots/{snapshot_id}/commit", {"allow_mass_deletion": allow})


def pupil(serial: int, **fields: Any) -> dict[str, Any]:
    return {
        "upn": upn(serial),
        "forename": f"Pupil{serial}",
        "surname": "Test",
        "nc_year": "7",
        **fields,
    }


@pytest.fixture
def world(app, client, make_school, make_user, make_app) -> SchoolWorld:
    application, secret = make_app(
        name="Reader", required={}, optional={s: "For the tests." for s in SCOPES}
    )
    world = SchoolWorld(app, client, make_school, make_user, application, secret)
    world.decide()
    return world


@pytest.fixture
def agent(app, client, world) -> Agent:
    return Agent(app, client, world.school_id)
