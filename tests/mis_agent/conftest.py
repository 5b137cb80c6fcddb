"""The reference connector against the app in this process: `requests` carried to Flask's
test client by a transport adapter (the real server's views, no network), and the agent's
pauses recorded instead of slept."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from authserver.domain import connectors
from authserver.extensions import db
from authserver.models.organisations import School
from mis_agent.connector_api import ConnectorAPI

SERVER = "http://authserver.test"


class TestClientTransport(BaseAdapter):
    """Send requests' requests to a Flask test client (whatever the host) and back."""

    def __init__(self, client) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **_options) -> requests.Response:
        url = urlsplit(request.url)
        answer = self.client.open(
            url.path,
            method=request.method,
            query_string=url.query,
            data=request.body,
            headers=dict(request.headers),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.get_data()
        response.url, response.request = request.url, request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def agent_api(app, client, school, pauses) -> ConnectorAPI:
    """The school's connector, registered as an operator would, talking to the app."""
    with app.app_context():
        connector, secret = connectors.register(
            db.session, db.session.get(School, school.id), "Reference agent", actor="test"
        )
        client_id = connector.client_id
        db.session.commit()
    http = requests.Session()
    # Every address goes to the app: the metadata names the issuer's token endpoint.
    for scheme in ("http://", "https://"):
        http.mount(scheme, TestClientTransport(client))
    return ConnectorAPI(SERVER, client_id, secret, http=http, sleep=pauses.append)
