"""Oversized and malformed input, and injection strings in every field: always a 4xx in the
endpoint's own error format (RFC 6749 / 6750 JSON for machines, a page for people), never a 5xx,
and never evaluated."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_resources import SchoolTokens
from tests.oauth_flow import basic_auth, csrf_token, pkce_pair

REDIRECT_URI = "https://app.example.com/callback"
FORM = "application/x-www-form-urlencoded"
HUGE = b"token=" + b"x" * (2 * 1024 * 1024)  # twice the 1 MiB MAX_CONTENT_LENGTH

INJECTIONS = {
    "sql": "' OR 1=1 --",
    "jinja": "{{7*7}}",
    "template": "${7*7}",
    "html": "<script>alert(1)</script>",
    "long": "x" * 20_000,
    "unicode": "\u202e\ufeff\U0001f600 \u0130",
    "control": "\x01\x1b[2J\r\n",
}


@pytest.fixture
def callers(app, client, make_app, school, school_admin, resource_server) -> dict[str, Any]:
    """Real credentials of every kind, so bad input reaches past authentication."""
    tokens = SchoolTokens(app, client, make_app, school, school_admin)
    server, server_secret = resource_server
    return {
        "client_id": tokens.application.client_id,
        "basic": basic_auth(tokens.application.client_id, tokens.secret),
        "resource_server": basic_auth(server.client_id, server_secret),
        "school_id": str(school.id),
        "school_secret": tokens.school_secret,
        "bearer": {"Authorization": f"Bearer {tokens.token('StudentLite')}"},
        "vendor_bearer": {"Authorization": f"Bearer {vendor_token(client, tokens)}"},
    }


def vendor_token(client: FlaskClient, tokens: SchoolTokens) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(tokens.application.client_id, tokens.secret),
    )
    return response.get_json()["access_token"]


def vschar(text: str) -> bool:
    """Whether `text` is printable ASCII, the syntax of every OAuth parameter."""
    return all(" " <= character <= "~" for character in text)


def assert_machine_error(response: Any, status: int, error: str, case: str = "") -> None:
    """An RFC 6749 §5.2 / RFC 6750 §3.1 JSON error, not cached, nothing evaluated."""
    assert response.status_code == status, (case, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, (case, body)
    assert response.headers["Cache-Control"] == "no-store"
    assert not re.search(r"\b49\b", body.get("error_description", "")), "evaluated"


def assert_page(response: Any, status: int) -> None:
    """A readable HTML page, never a stack trace or an evaluated template."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert ">49<" not in text


# --- Malformed bodies on every machine endpoint ---------------------------------------------

MACHINE_POSTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/par"]

MALFORMED = [
    # (case, body, content type, status, error)
    ("huge body", HUGE, FORM, 413, "request_too_large"),
    ("JSON for a form", b'{"grant_type": "client_credentials"}', "application/json", 400, None),
    ("multipart for a form", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b", 400, None),
    ("no content type", b"grant_type=client_credentials&token=t", "", 400, None),
    ("non-UTF-8 bytes", b"grant_type=client_credentials&token=%FF%FE", FORM, 400, None),
    ("raw high bytes", b"grant_type=\xc3\x28&token=\xff", FORM, 400, None),
    ("a NUL character", b"grant_type=client_credentials&token=a%00b", FORM, 400, None),
    ("a repeated parameter", b"grant_type=a&grant_type=b&token=t&token=u", FORM, 400, None),
    ("a repeated odd name", b"%01%22=a&%01%22=b&token=t", FORM, 400, None),
]


@pytest.mark.parametrize("path", MACHINE_POSTS)
@pytest.mark.parametrize(
    ("case", "body", "content_type", "status", "error"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_bodies_are_refused_in_json(
    client: FlaskClient, callers, path, case, body, content_type, status, error
) -> None:
    headers = callers["resource_server" if path == "/oauth/introspect" else "basic"]
    response = client.post(path, data=body, content_type=content_type, headers=headers)
    assert_machine_error(response, status, error or "invalid_request")


@pytest.mark.parametrize(
    ("case", "path", "status", "error"),
    [
        ("non-UTF-8 query", "/api/v1/students?limit=%FF", 400, "invalid_request"),
        ("NUL in a query", "/api/v1/students?cursor=%00", 400, "invalid_request"),
        ("repeated parameter", "/api/v1/students?limit=1&limit=1000", 400, "invalid_request"),
        ("10,000 includes", "/api/v1/students?include=" + ",".join(["x"] * 10_000), 400, None),
        ("huge limit", "/api/v1/students?limit=" + "9" * 5000, 400, "invalid_request"),
        ("unknown resource", "/api/v1/%7B%7B7*7%7D%7D", 404, "not_found"),
        ("id out of range", "/api/v1/students/99999999999999999999", 404, "not_found"),
    ],
)
def test_malformed_api_queries_are_refused_in_json(client, callers, case, path, status, error):
    response = client.get(path, headers=callers["bearer"])
    assert_machine_error(response, status, error or "invalid_request")


def test_a_huge_api_body_is_a_413_in_json(client, callers) -> None:
    response = client.post(
        "/api/v1/access-requests",
        data=HUGE,
        content_type="application/json",
        headers=callers["vendor_bearer"],
    )
    assert_machine_error(response, 413, "request_too_large")


@pytest.mark.parametrize(
    ("case", "authorization", "status", "error"),
    [
        ("Basic that is not UTF-8", "Basic " + base64.b64encode(b"\xff:\xfe").decode(), 400, None),
        ("Basic that is not base64", "Basic %%%%", 401, "invalid_client"),
        ("an unknown scheme", "Negotiate abc", 401, "invalid_client"),
        ("Bearer at the token endpoint", "Bearer abc", 401, "invalid_client"),
        ("a huge header", "Basic " + "A" * 60_000, 401, "invalid_client"),
        ("a scheme and a space", "Basic ", 400, None),
        ("a space and a word", " abc", 400, None),
        ("a word and a no-break space", "abc\xa0", 400, None),
    ],
)
def test_malformed_client_credentials(client, case, authorization, status, error) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
    )
    assert_machine_error(response, status, error or "invalid_request")


@pytest.mark.parametrize(
    ("case", "authorization", "error"),
    [
        ("a NUL in the token", "Bearer a\x00b", "invalid_token"),
        ("a huge token", "Bearer " + "x" * 60_000, "invalid_token"),
        ("high bytes", "Bearer \xff\xfe", "invalid_token"),
        ("a SQL token", "Bearer ' OR 1=1 --", "invalid_token"),
        # RFC 6750 §3.1: no Bearer credentials at all, so a bare challenge.
        (
            "Basic instead of Bearer",
            "Basic " + base64.b64encode(b"a:b").decode(),
            "invalid_request",
        ),
        ("an empty Bearer", "Bearer ", "invalid_request"),
    ],
)
def test_malformed_bearer_tokens(client, case, authorization, error) -> None:
    response = client.get("/api/v1/school", headers={"Authorization": authorization})
    assert_machine_error(response, 401, error)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- 10,000 scopes --------------------------------------------------------------------------

TEN_THOUSAND_SCOPES = " ".join(f"Scope{i}" for i in range(10_000))


def test_ten_thousand_scopes_at_the_token_endpoint(client, callers) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": TEN_THOUSAND_SCOPES},
        headers=callers["basic"],
    )
    assert_machine_error(response, 400, "invalid_scope")


def test_ten_thousand_scopes_at_par(client, callers) -> None:
    _, challenge = pkce_pair()
    response = client.post(
        "/oauth/par",
        data={
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": TEN_THOUSAND_SCOPES,
        },
        headers=callers["basic"],
    )
    assert_machine_error(response, 400, "invalid_scope")


def test_ten_thousand_scopes_at_the_authorization_endpoint(client, callers) -> None:
    _, challenge = pkce_pair()
    response = client.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": callers["client_id"],
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": TEN_THOUSAND_SCOPES,
            "state": "s",
        },
    )
    # The client and its redirect URI are good, so the error goes back to it (RFC 6749 §4.1.2.1).
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT_URI + "?error=invalid_scope")


# --- Injection strings in every field -------------------------------------------------------

# OAuth parameters are printable ASCII (RFC 6749 Appendix A): anything else is refused first.
NOT_ASCII = (400, "invalid_request")

# Each field of each endpoint, the rest of the request plausible, and the exact answer due.
TOKEN_FIELDS = {
    "grant_type": (400, "unsupported_grant_type"),
    "code": (400, "invalid_grant"),
    "redirect_uri": (400, "invalid_grant"),
    "code_verifier": (400, "invalid_grant"),
    "refresh_token": (400, "invalid_grant"),
    "scope": (400, "invalid_scope"),
    "client_id": (401, "invalid_client"),
    # The application authenticates with HTTP Basic, so a secret in the body cannot do.
    "client_secret": (401, "invalid_client"),
    "school_id": (400, "invalid_request"),
    "school_secret": (400, "invalid_grant"),
}


def _token_request(callers: dict[str, Any], field: str, value: str) -> dict[str, str]:
    from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE

    if field in {"code", "redirect_uri", "code_verifier"}:
        data = {
            "grant_type": "authorization_code",
            "code": "a-code",
            "redirect_uri": REDIRECT_URI,
            "code_verifier": "v" * 43,
        }
    elif field == "refresh_token":
        data = {"grant_type": "refresh_token"}
    elif field in {"school_id", "school_secret", "scope"}:
        data = {
            "grant_type": SCHOOL_SECRET_GRANT_TYPE,
            "school_id": callers["school_id"],
            "school_secret": callers["school_secret"],
        }
    else:
        data = {"grant_type": "client_credentials"}
    if field == "client_secret":
        data["client_id"] = callers["client_id"]
    data[field] = value
    return data


@pytest.mark.parametrize("field", TOKEN_FIELDS)
def test_injections_in_every_token_field(client, callers, field) -> None:
    headers = {} if field in {"client_id", "client_secret"} else callers["basic"]
    for name, injection in INJECTIONS.items():
        response = client.post(
            "/oauth/token", data=_token_request(callers, field, injection), headers=headers
        )
        status, error = TOKEN_FIELDS[field] if vschar(injection) else NOT_ASCII
        assert_machine_error(response, status, error, case=name)


ENDPOINT_FIELDS = [
    # (path, field, credentials, status, error; None: a 200 that gives nothing away)
    ("/oauth/introspect", "token", "resource_server", 200, None),
    ("/oauth/introspect", "token_type_hint", "resource_server", 200, None),
    ("/oauth/introspect", "client_id", None, 401, "invalid_client"),
    ("/oauth/revoke", "token", "basic", 200, None),
    ("/oauth/revoke", "token_type_hint", "basic", 200, None),
    ("/oauth/revoke", "client_id", None, 400, "invalid_client"),
    ("/oauth/par", "response_type", "basic", 400, "unsupported_response_type"),
    ("/oauth/par", "redirect_uri", "basic", 400, "invalid_request"),
    ("/oauth/par", "scope", "basic", 400, "invalid_scope"),
    ("/oauth/par", "code_challenge", "basic", 400, "invalid_request"),
    ("/oauth/par", "code_challenge_method", "basic", 400, "invalid_request"),
    ("/oauth/par", "client_id", "basic", 400, "invalid_request"),
]


def _plausible(path: str) -> dict[str, str]:
    if path == "/oauth/par":
        _, challenge = pkce_pair()
        return {
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
        }
    return {"token": "not-a-token"}


@pytest.mark.parametrize(
    ("path", "field", "credentials", "status", "error"),
    ENDPOINT_FIELDS,
    ids=[f"{p}:{f}" for p, f, *_ in ENDPOINT_FIELDS],
)
def test_injections_in_every_field_of_the_other_endpoints(
    client, callers, path, field, credentials, status, error
) -> None:
    headers = callers[credentials] if credentials else {}
    for name, injection in INJECTIONS.items():
        response = client.post(path, data={**_plausible(path), field: injection}, headers=headers)
        if not vschar(injection):
            assert_machine_error(response, *NOT_ASCII, case=name)
        elif error is None:
            assert response.status_code == status, name
            assert response.headers["Cache-Control"] == "no-store", name
            if path == "/oauth/introspect":
                assert response.get_json() == {"active": False}, name
        else:
            assert_machine_error(response, status, error, case=name)


API_QUERIES = ["limit", "cursor", "updated_after", "include"]


@pytest.mark.parametrize("parameter", API_QUERIES)
def test_injections_in_every_api_parameter(client, callers, parameter) -> None:
    for name, injection in INJECTIONS.items():
        response = client.get(
            "/api/v1/students", query_string={parameter: injection}, headers=callers["bearer"]
        )
        assert_machine_error(response, 400, "invalid_request", case=name)


AUTHORIZATION_FIELDS = {
    # Never redirect to a client or URI we cannot vouch for: a page instead.
    "client_id": "page",
    "redirect_uri": "page",
    # With the client and its URI good, the error goes back to it (RFC 6749 §4.1.2.1).
    "response_type": "unsupported_response_type",
    "scope": "invalid_scope",
    "code_challenge": "invalid_request",
    "code_challenge_method": "invalid_request",
    # Any state is the client's own, echoed back encoded: the admin is sent to sign in first.
    "state": "sign-in",
}


@pytest.mark.parametrize("field", AUTHORIZATION_FIELDS)
def test_injections_at_the_authorization_endpoint(client, callers, field) -> None:
    _, challenge = pkce_pair()
    for name, injection in INJECTIONS.items():
        query = {
            "response_type": "code",
            "client_id": callers["client_id"],
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
            field: injection,
        }
        response = client.get("/oauth/authorize", query_string=query)
        expected = AUTHORIZATION_FIELDS[field]
        if not vschar(injection) and field != "state":
            expected = "page"
        if expected == "page":
            assert_page(response, 400)
        elif expected == "sign-in":
            assert response.status_code == 302, name
            assert response.headers["Location"].startswith("/sign-in?next="), name
        else:
            assert response.status_code == 302, name
            location = response.headers["Location"]
            assert location.startswith(f"{REDIRECT_URI}?error={expected}&"), (name, location)


@pytest.mark.parametrize("field", ["email", "password"])
def test_injections_in_the_sign_in_form(client, school_admin, field) -> None:
    for name, injection in INJECTIONS.items():
        page = client.get("/sign-in")
        data = {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": school_admin.email,
            "password": "wrong password, long enough",
            field: injection,
        }
        response = client.post("/sign-in", data=data)
        # A failed sign-in (401), or the form again with what to correct (200); never in.
        assert response.status_code in (200, 401), name
        assert_page(response, response.status_code)
        assert "Location" not in response.headers, name


@pytest.mark.parametrize(
    ("case", "body", "status"),
    [
        ("a NUL character", "email=a%00b%40example.org&password=x", 400),
        ("non-UTF-8 bytes", "email=%FF%40example.org&password=x", 400),
        ("a huge body", "email=" + "x" * (2 * 1024 * 1024), 413),
    ],
)
def test_malformed_sign_in_forms_get_a_page(client, case, body, status) -> None:
    page = client.get("/sign-in")
    body = f"csrf_token={csrf_token(page.get_data(as_text=True))}&{body}"
    response = client.post("/sign-in", data=body, content_type=FORM)
    assert_page(response, status)


def test_a_huge_body_to_a_page_is_a_readable_413(client) -> None:
    response = client.post("/oauth/authorize", data=HUGE, content_type=FORM)
    assert_page(response, 413)


@pytest.mark.parametrize(
    "path", ["/oauth/authorize", "/api/v1/students", "/sign-in", "/oauth/token", "/schools"]
)
def test_raw_bytes_that_are_not_utf8_in_a_query(client, callers, path) -> None:
    # A server hands such a query to the app as is; Werkzeug cannot decode it.
    method = client.post if path == "/oauth/token" else client.get
    response = method(
        path, environ_overrides={"QUERY_STRING": "state=\xc3\x28"}, headers=callers["bearer"]
    )
    if path.startswith(("/api/", "/oauth/token")):
        assert_machine_error(response, 400, "invalid_request")
    else:
        assert_page(response, 400)


@pytest.mark.parametrize("injection", [*INJECTIONS.values(), "a\x00b", 7, None, [], {}])
def test_injections_in_an_api_json_body(client, callers, injection) -> None:
    response = client.post(
        "/api/v1/access-requests",
        json={"school_urn": injection},
        headers=callers["vendor_bearer"],
    )
    status, error = (404, "not_found") if isinstance(injection, str) else (400, "invalid_request")
    if isinstance(injection, str) and "\x00" in injection:
        status, error = 400, "invalid_request"
    assert_machine_error(response, status, error)


def test_json_that_is_not_json_at_the_api(client, callers) -> None:
    response = client.post(
        "/api/v1/access-requests",
        data=b'{"school_urn": "\xff',
        content_type="application/json",
        headers=callers["vendor_bearer"],
    )
    assert_machine_error(response, 400, "invalid_request")


@pytest.mark.parametrize("school_id", ["9" * 12, "-1", "1e3", "+7", "9" * 5000])
def test_a_school_id_out_of_range(client, callers, school_id) -> None:
    data = _token_request(callers, "school_id", school_id)
    response = client.post("/oauth/token", data=data, headers=callers["basic"])
    assert_machine_error(response, 400, "invalid_request")


@pytest.mark.parametrize(("path", "machine"), [("/api/v1/refused", True), ("/refused", False)])
def test_a_value_the_database_refuses_is_the_callers_400(app, client, path, machine) -> None:
    from sqlalchemy.exc import DataError

    @app.get(path)
    def refused() -> str:
        raise DataError("SELECT ...", {}, ValueError("text fields cannot contain NUL"))

    response = client.get(path)
    if machine:
        assert_machine_error(response, 400, "invalid_request")
    else:
        assert_page(response, 400)
    assert "NUL" not in response.get_data(as_text=True)
