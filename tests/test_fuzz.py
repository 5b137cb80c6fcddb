"""Generated input (Hypothesis) at the protocol and API endpoints: whatever arrives, the answer
is below 500, and a machine endpoint's 4xx is JSON with an `error` member."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.api.test_resources import SchoolTokens
from tests.oauth_flow import basic_auth

pytestmark = pytest.mark.fuzz

settings.register_profile(
    "fuzz",
    max_examples=40,
    deadline=None,
    # One app and one set of credentials serve every example of a test: each example is just
    # another request to the same server, and building them per example would take minutes.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("fuzz")

OAUTH_NAMES = [
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "refresh_token",
    "response_type",
    "request_uri",
    "scope",
    "state",
    "token",
    "token_type_hint",
    "school_id",
    "school_secret",
    "limit",
    "cursor",
    "updated_after",
    "include",
]
NASTY = [
    "' OR 1=1 --",
    "{{7*7}}",
    "${7*7}",
    "\x00",
    "x" * 5000,
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:school-secret",
    "code",
    "S256",
    "plain",
    "https://app.example.com/callback",
    "StudentLite Attendance",
    "-1",
    "99999999999999999999",
]


@pytest.fixture
def real(app, client, make_app, school, school_admin, resource_server) -> dict[str, str]:
    """Real identifiers and secrets, for the generator to mix into its requests."""
    tokens = SchoolTokens(app, client, make_app, school, school_admin)
    server, server_secret = resource_server
    return {
        "client_id": tokens.application.client_id,
        "client_secret": tokens.secret,
        "server_id": server.client_id,
        "server_secret": server_secret,
        "school_id": str(school.id),
        "school_secret": tokens.school_secret,
        "access_token": tokens.token("StudentLite"),
    }


def texts() -> st.SearchStrategy[str]:
    """Any text: unicode, control characters, surrogates excluded (they cannot be sent)."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=200)


def header_texts() -> st.SearchStrategy[str]:
    # Header values travel as latin-1 and can never hold a line break.
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)


@st.composite
def parameters(draw: st.DrawFn, real: dict[str, str]) -> MultiDict:
    """Parameters with names of ours or anything, values real, nasty or random, some repeated."""
    names = st.one_of(st.sampled_from(OAUTH_NAMES), texts().filter(bool))
    values = st.one_of(st.sampled_from([*NASTY, *real.values()]), texts())
    pairs = draw(st.lists(st.tuples(names, values), max_size=8))
    return MultiDict(pairs)


@st.composite
def authorizations(draw: st.DrawFn, real: dict[str, str]) -> dict[str, str]:
    """No Authorization header, a real one, or a broken one."""
    basic = base64.b64encode(f"{real['client_id']}:{real['client_secret']}".encode()).decode()
    choice = draw(
        st.one_of(
            st.none(),
            st.just("Basic " + basic),
            st.just(
                "Basic "
                + base64.b64encode(f"{real['server_id']}:{real['server_secret']}".encode()).decode()
            ),
            st.just(f"Bearer {real['access_token']}"),
            st.builds(lambda t: "Bearer " + t, header_texts()),
            st.builds(
                lambda raw: "Basic " + base64.b64encode(raw).decode(), st.binary(max_size=60)
            ),
            header_texts(),
        )
    )
    return {} if choice is None else {"Authorization": choice}


@st.composite
def bodies(draw: st.DrawFn, real: dict[str, str]) -> dict[str, Any]:
    """A request body: a form (usually), raw bytes, or JSON, with some content type."""
    kind = draw(st.sampled_from(["form", "form", "form", "raw", "json"]))
    if kind == "form":
        return {"data": draw(parameters(real))}
    if kind == "raw":
        content_type = draw(
            st.sampled_from(
                ["application/x-www-form-urlencoded", "text/plain", "application/json", ""]
            )
        )
        return {"data": draw(st.binary(max_size=500)), "content_type": content_type}
    return {"json": draw(st.dictionaries(st.sampled_from(OAUTH_NAMES), texts(), max_size=5))}


def assert_machine_answer(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if 400 <= response.status_code < 500:
        assert response.mimetype == "application/json"
        assert isinstance(response.get_json()["error"], str)


@pytest.mark.parametrize(
    "path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/par"]
)
def test_generated_posts_to_the_oauth_endpoints(client, real, path) -> None:
    @FUZZ
    @given(body=bodies(real), headers=authorizations(real))
    def post(body: dict[str, Any], headers: dict[str, str]) -> None:
        assert_machine_answer(client.post(path, headers=headers, **body))

    post()


@pytest.mark.parametrize(
    "path", ["/api/v1/school", "/api/v1/students", "/api/v1/students/1", "/api/v1/deletions"]
)
def test_generated_api_requests(client, real, path) -> None:
    @FUZZ
    @given(query=parameters(real), headers=authorizations(real))
    def get(query: MultiDict, headers: dict[str, str]) -> None:
        assert_machine_answer(client.get(path, query_string=query, headers=headers))

    get()


def test_generated_api_posts(client, real) -> None:
    @FUZZ
    @given(body=bodies(real), headers=authorizations(real))
    def post(body: dict[str, Any], headers: dict[str, str]) -> None:
        assert_machine_answer(client.post("/api/v1/access-requests", headers=headers, **body))

    post()


def test_generated_authorization_requests(client, real, school_admin) -> None:
    from tests.oauth_flow import sign_in

    sign_in(client, school_admin.email)  # signed in, so requests reach the consent screen

    @FUZZ
    @given(query=parameters(real), raw=st.binary(max_size=200), use_raw=st.booleans())
    def get(query: MultiDict, raw: bytes, use_raw: bool) -> None:
        if use_raw:
            # A query string exactly as a server would hand it over, bytes and all.
            response = client.get(
                "/oauth/authorize", environ_overrides={"QUERY_STRING": raw.decode("latin-1")}
            )
        else:
            response = client.get("/oauth/authorize", query_string=query)
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        if response.status_code >= 400:
            assert response.mimetype == "text/html"

    get()


def test_the_basic_header_of_a_real_client_survives_generated_bodies(client, real) -> None:
    # The same generated forms with the real client: they reach the grants' own checks.
    headers = basic_auth(real["client_id"], real["client_secret"])

    @FUZZ
    @given(form=parameters(real))
    def post(form: MultiDict) -> None:
        assert_machine_answer(client.post("/oauth/token", data=form, headers=headers))

    post()
