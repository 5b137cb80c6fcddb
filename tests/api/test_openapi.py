"""The API contract: /api/v1/openapi.json is valid OpenAPI 3.1, covers every route, and what
the API really answers (a real session, then schemathesis's generated requests) conforms."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from authserver.api import responses
from authserver.api.registry import RESOURCES
from authserver.api.schemas import SCHEMA_REF
from tests.api.test_resources import READ_SCOPES, SchoolTokens
from tests.oauth_flow import basic_auth

DOCUMENT_URI = "urn:authserver:openapi"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def school(seeded_school):
    """The module's seeded school (tests/api/conftest.py) in place of an empty one."""
    return seeded_school


@pytest.fixture
def tokens(app, client, make_app, school, school_admin, school_data) -> SchoolTokens:
    return SchoolTokens(app, client, make_app, school, school_admin)


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


# --- Checking a response against the document --------------------------------------------------


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A response object and its JSON pointer parts, following one `$ref`."""
    ref = node.get("$ref")
    if ref is None:
        return node, []
    parts = ref.removeprefix("#/").split("/")
    target: Any = document
    for part in parts:
        target = target[part]
    return target, parts


def template_of(document: dict[str, Any], path: str) -> str:
    """The document's path template matching a concrete path (literal paths win)."""
    if path in document["paths"]:
        return path
    for template in document["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not in the document")


def assert_conforms(document: dict[str, Any], method: str, path: str, response) -> None:
    """The response's status, headers and body are as the document says for this operation."""
    template = template_of(document, path.split("?")[0])
    operation = document["paths"][template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], (method, template, status, response.get_data())
    declared, parts = _resolve(document, operation["responses"][status])
    if not parts:
        parts = ["paths", template, method.lower(), "responses", status]
    for header in declared.get("headers", {}):
        if header in {"WWW-Authenticate"}:
            assert header in response.headers, (template, status, header)
    content = declared.get("content")
    if not content:
        assert not response.get_data(), (template, status)
        return
    mimetype = response.mimetype
    assert mimetype in content, (template, status, mimetype)
    if mimetype != "application/json":
        return
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schema = {"$ref": DOCUMENT_URI + "#" + _pointer(*parts, "content", mimetype, "schema")}
    validator = Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(response.get_json())
    ]
    assert not errors, (method, path, status, errors[:5])


# --- The document -------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1_public_and_cacheable(client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.cache_control.public
    assert response.cache_control.max_age == 300
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)


def test_every_api_route_is_in_the_document_and_nothing_else(app, document) -> None:
    def normal(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    documented = {
        (normal(path), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/v1/", "/connector/v1/")):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        names = sorted(RESOURCES) if "{resource}" in path else [None]
        for method in rule.methods - IGNORED_METHODS:
            for name in names:
                concrete = path.replace("{resource}", name) if name else path
                routed.add((normal(concrete), method))
    assert routed - documented == set(), "routes missing from the document"
    assert documented - routed == set(), "documented operations with no route"


def test_each_resource_object_requires_id_and_updated_at_and_nothing_else(document) -> None:
    schemas = document["components"]["schemas"]
    student = schemas["Student"]
    assert student["required"] == ["id", "updated_at"]
    assert student["additionalProperties"] is False
    assert student["properties"]["date_of_birth"]["type"] == ["string", "null"]
    assert student["properties"]["date_of_birth"]["format"] == "date"
    assert student["properties"]["forename"]["type"] == "string"
    assert student["properties"]["fsm_eligible"]["type"] == "boolean"


def test_each_fixed_shape_answer_is_its_models_schema(document) -> None:
    schemas = document["components"]["schemas"]
    for model in responses.MODELS:
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
        for name, nested in schema.pop("$defs", {}).items():
            assert schemas[name] == nested, name
        assert schemas[model.__name__] == schema, model.__name__


@pytest.mark.parametrize(
    ("method", "path", "status", "model"),
    [
        ("get", "/api/v1/school", "200", responses.School),
        ("get", "/api/v1/deletions", "200", responses.DeletionList),
        ("get", "/api/v1/scopes", "200", responses.ScopeCatalogue),
        ("post", "/api/v1/access-requests", "200", responses.AccessRequest),
        ("post", "/api/v1/access-requests", "201", responses.AccessRequest),
        ("post", "/api/v1/access-requests", "409", responses.Error),
        ("get", "/api/v1/connections", "200", responses.ConnectionList),
        ("post", "/api/v1/connections/{school_id}/secret", "201", responses.SchoolSecret),
        ("post", "/api/v1/session-marks", "413", responses.Error),
    ],
)
def test_each_fixed_shape_operation_answers_with_its_model(
    document, method, path, status, model
) -> None:
    declared = document["paths"][path][method]["responses"][status]
    assert declared["content"]["application/json"]["schema"] == {
        "$ref": SCHEMA_REF.format(model=model.__name__)
    }


@pytest.mark.parametrize(
    ("response", "model"),
    [
        ("BadRequest", responses.Error),
        ("Unauthorized", responses.Error),
        ("Forbidden", responses.InsufficientScopeError),
        ("NotFound", responses.Error),
        ("Conflict", responses.Error),
        ("Unprocessable", responses.ValidationError),
        ("TooManyRequests", responses.Error),
        ("Unavailable", responses.Error),
    ],
)
def test_each_error_answer_is_its_models(document, response, model) -> None:
    declared = document["components"]["responses"][response]
    assert declared["content"]["application/json"]["schema"] == {
        "$ref": SCHEMA_REF.format(model=model.__name__)
    }


def test_the_oauth_urls_are_the_servers(document) -> None:
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]
    issuer = document["servers"][0]["url"]
    assert flows["authorizationCode"]["authorizationUrl"] == issuer + "/oauth/authorize"
    assert flows["authorizationCode"]["tokenUrl"] == issuer + "/oauth/token"
    assert flows["clientCredentials"]["tokenUrl"] == issuer + "/oauth/token"
    assert set(READ_SCOPES) <= set(flows["authorizationCode"]["scopes"])


def test_writeback_is_documented_from_its_declaration(document) -> None:
    writeback = pytest.importorskip("authserver.domain.writeback")
    for name, resource in writeback.WRITEBACK_RESOURCES.items():
        operation = document["paths"][f"/api/v1/{name}"]["post"]
        assert operation["security"][0] == {"oauth2": [resource.scope]}
        assert "422" in operation["responses"]
        write = document["components"]["schemas"][
            "".join(p.capitalize() for p in resource.entity.split("_")) + "Write"
        ]
        assert set(write["required"]) == set(resource.required)
        assert set(write["properties"]) == set(resource.required) | set(resource.optional)


# --- A real session conforms --------------------------------------------------------------------


def test_every_list_and_detail_conforms(tokens, document) -> None:
    token = tokens.token()
    for name in RESOURCES:
        path = f"/api/v1/{name}"
        response = tokens.get(name, token, limit=3)
        assert response.status_code == 200, (name, response.get_json())
        assert_conforms(document, "GET", path, response)
        rows = response.get_json()["data"]
        if rows:
            detail = tokens.get(f"{name}/{rows[0]['id']}", token)
            assert_conforms(document, "GET", f"{path}/{rows[0]['id']}", detail)


def test_pages_includes_school_and_deletions_conform(tokens, document) -> None:
    token = tokens.token()
    first = tokens.get("students", token, limit=2)
    assert first.get_json()["next"]
    assert_conforms(document, "GET", "/api/v1/students", first)
    second = tokens.get("students", token, limit=2, cursor=first.get_json()["next"])
    assert_conforms(document, "GET", "/api/v1/students", second)
    [includes] = [
        p
        for p in document["paths"]["/api/v1/students"]["get"]["parameters"]
        if p.get("name") == "include"
    ]
    every = ",".join(includes["schema"]["items"]["enum"][:10])
    for path, query in [
        ("students", {"include": every, "limit": 5}),
        ("students", {"include": "contacts,classes,groups", "updated_after": "2000-01-01"}),
        ("session-marks", {"include": "student", "limit": 5}),
        ("students", {"include": "contacts", "fields": "surname,contacts.email", "limit": 3}),
        ("school", {}),
        ("deletions", {"updated_after": "2000-01-01T00:00:00Z"}),
    ]:
        response = tokens.get(path, token, **query)
        assert response.status_code == 200, (path, response.get_json())
        assert_conforms(document, "GET", f"/api/v1/{path}", response)
    student_id = first.get_json()["data"][0]["id"]
    detail = tokens.get(f"students/{student_id}", token, include="contacts")
    assert_conforms(document, "GET", f"/api/v1/students/{student_id}", detail)


def test_public_catalogue_conforms(client, document) -> None:
    for path in ("/api/v1/scopes", "/api/v1/scopes.csv", "/api/v1/openapi.json"):
        assert_conforms(document, "GET", path, client.get(path))


def test_errors_conform(tokens, client, document) -> None:
    token = tokens.token()
    lite = tokens.token("StudentLite")
    cases = [
        (client.get("/api/v1/students"), 401),
        (tokens.get("students", "not-a-token"), 401),
        (tokens.get("medical-conditions", lite), 403),
        (tokens.get("students/999999", token), 404),
        (tokens.get("students", token, limit=0), 400),
        (tokens.get("students", token, cursor="forged"), 400),
        (tokens.get("students", token, include="nothing"), 400),
        (tokens.get("students", token, updated_after="yesterday"), 400),
        (tokens.get("deletions", token), 400),
        (tokens.get("connections", token), 401),
    ]
    for response, status in cases:
        assert response.status_code == status, response.get_json()
        path = response.request.path
        assert_conforms(document, "GET", path, response)


def test_writeback_refusals_conform(tokens, document) -> None:
    writeback = pytest.importorskip("authserver.domain.writeback")
    name = next(iter(writeback.WRITEBACK_RESOURCES))
    response = tokens.client.post(
        f"/api/v1/{name}",
        json={"data": [{}]},
        headers={"Authorization": f"Bearer {tokens.token()}"},
    )
    assert response.status_code == 403
    assert_conforms(document, "POST", f"/api/v1/{name}", response)


def _app_token(client, client_id: str, secret: str) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def test_the_management_api_conforms(tokens, client, make_app, school, document) -> None:
    asker, asker_secret = make_app(name="Asker")
    headers = {"Authorization": f"Bearer {_app_token(client, asker.client_id, asker_secret)}"}
    created = client.post(
        "/api/v1/access-requests", json={"school_urn": school.urn}, headers=headers
    )
    assert created.status_code == 201, created.get_json()
    assert_conforms(document, "POST", "/api/v1/access-requests", created)
    again = client.post("/api/v1/access-requests", json={"school_urn": school.urn}, headers=headers)
    assert_conforms(document, "POST", "/api/v1/access-requests", again)
    for body, status in [({"school_urn": "000000"}, 404), ({}, 400)]:
        response = client.post("/api/v1/access-requests", json=body, headers=headers)
        assert response.status_code == status
        assert_conforms(document, "POST", "/api/v1/access-requests", response)
    listed = client.get("/api/v1/connections", headers=headers)
    assert listed.get_json()["connections"][0]["pending_request"]
    assert_conforms(document, "GET", "/api/v1/connections", listed)
    request_id = created.get_json()["id"]
    withdrawn = client.delete(f"/api/v1/access-requests/{request_id}", headers=headers)
    assert withdrawn.status_code == 204
    assert_conforms(document, "DELETE", f"/api/v1/access-requests/{request_id}", withdrawn)

    approved = {
        "Authorization": "Bearer " + _app_token(client, tokens.application.client_id, tokens.secret)
    }
    listed = client.get(
        "/api/v1/connections", query_string={"updated_after": "2000-01-01"}, headers=approved
    )
    assert listed.get_json()["connections"][0]["status"] == "approved"
    assert_conforms(document, "GET", "/api/v1/connections", listed)
    secret_path = f"/api/v1/connections/{school.id}/secret"
    claimed = client.post(secret_path, headers=approved)
    assert claimed.status_code == 201
    assert_conforms(document, "POST", secret_path, claimed)
    for method, path, status in [
        ("DELETE", "/api/v1/connections/999999", 404),
        ("POST", "/api/v1/connections/999999/secret", 404),
        ("DELETE", "/api/v1/access-requests/999999", 404),
        ("DELETE", f"/api/v1/connections/{school.id}", 204),
    ]:
        response = client.open(path, method=method, headers=approved)
        assert response.status_code == status, (path, response.get_data())
        assert_conforms(document, method, path, response)


# --- Schemathesis: generated requests against the app, in process --------------------------------

MAX_EXAMPLES = 10


@pytest.mark.fuzz
def test_schemathesis_finds_no_server_error_and_no_schema_violation(app, tokens) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens.token()}"}
    failures: list[str] = []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET":
            continue  # the read surface; writes are covered by their own tests

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(headers=headers))
        def run(case) -> None:
            response = case.call()
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        # Schemathesis reports check failures as a BaseExceptionGroup: catch that too, so
        # every operation is tried and all failures are reported together.
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert elapsed < 120, f"the fuzz run took {elapsed:.0f} s"
