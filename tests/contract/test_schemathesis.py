"""Contract test: schemathesis drives the live server from the static OpenAPI spec.

Every operation in ``api/chalicelib/openapi.yaml`` is fuzzed against the real serving
command (gunicorn + the WSGI shim) in front of the moto server. Every response must be
free of 5xx and conform to the spec: status code, content type, headers and body.

A few explicit cases follow, for what random data rarely reaches: a created user (201),
a duplicate (409), paging with ``X-Next-Cursor``/``Link``, and unknown routes or methods.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests
import schemathesis
import yaml
from PIL import Image
from schemathesis.config import SchemathesisConfig

SPEC_PATH = Path(__file__).resolve().parents[2] / "api" / "chalicelib" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))

# Bounded and repeatable: at most 30 generated cases per operation in the fuzzing phase,
# derandomized, no example database on disk. The examples and coverage phases add their
# own (finite) cases. The stateful phase does not run under pytest's parametrize anyway.
#
# POST /user: the schema cannot say "the bytes must decode as an image" nor repeat every
# rule of the email validator (it refuses special-use domains such as `.test`, which the
# generator draws), so schema-valid data may still get 400 or 415 there. Those are still
# checked against the spec like every other response; only "valid data must be accepted"
# is relaxed for that operation.
#
# GET /users: a cursor is opaque; one the API did not issue is rightly refused with 400,
# and a generator can only draw cursors the API did not issue.
CONFIG = SchemathesisConfig.from_str(
    """
[generation]
max-examples = 30
deterministic = true
database = "none"

[[operations]]
include-path = "/users"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = "/user"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "409", "415"]
checks.negative_data_rejection.expected-statuses = ["400", "409", "413", "415"]
"""
)

schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def _png(color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _email() -> str:
    return f"contract-{uuid.uuid4().hex[:16]}@example.com"


@schema.parametrize()
def test_operation_conforms_to_spec(case, live_server, http):
    case.call_and_validate(base_url=live_server, session=http, timeout=30)


def test_served_spec_is_the_file_in_the_repo(live_server, http):
    as_json = http.get(f"{live_server}/openapi.json", timeout=10)
    as_yaml = http.get(f"{live_server}/openapi.yaml", timeout=10)
    assert as_json.status_code == as_yaml.status_code == 200
    assert as_json.json() == SPEC
    assert yaml.safe_load(as_yaml.content) == SPEC


def _create(live_server, http, **fields):
    body = {"name": "Contract Test", "email": _email(), "avatar": _png()}
    body.update(fields)
    case = schema["/user"]["POST"].Case(
        body=body,
        media_type="multipart/form-data",
        multipart_content_types={"avatar": "image/png"},
    )
    return case.call_and_validate(base_url=live_server, session=http, timeout=30)


def test_created_user_and_duplicate_conform(live_server, http):
    email = _email()
    created = _create(live_server, http, name="  Ada Lovelace  ", email=email.upper())
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == email
    assert user["name"] == "Ada Lovelace"

    duplicate = _create(live_server, http, email=email)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"]["code"] == "email_exists"
    assert duplicate.json()["error"]["request_id"] == duplicate.headers["X-Request-ID"]


def test_paging_conforms_and_reaches_every_user(live_server, http):
    created = set()
    for _ in range(3):
        response = _create(live_server, http)
        assert response.status_code == 201, response.text
        created.add(response.json()["email"])

    operation = schema["/users"]["GET"]
    seen, query, pages = set(), {"limit": 1}, 0
    while True:
        response = operation.Case(query=query).call_and_validate(
            base_url=live_server, session=http, timeout=30
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page) <= 1
        seen.update(user["email"] for user in page)
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            break
        link = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["Link"])
        assert link, response.headers["Link"]
        link_query = parse_qs(urlsplit(link.group(1)).query)
        assert link_query == {"limit": ["1"], "cursor": [cursor]}
        query = {"limit": 1, "cursor": cursor}
        assert pages < 10_000
    assert created <= seen
    assert pages >= len(created)


@pytest.mark.parametrize(
    ("limit", "cursor"),
    [("0", None), ("1001", None), ("abc", None), ("1.5", None), ("10", "not-a-cursor")],
)
def test_bad_paging_parameters_conform(live_server, http, limit, cursor):
    query = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
    response = (
        schema["/users"]["GET"]
        .Case(query=query)
        .call_and_validate(base_url=live_server, session=http, timeout=30)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_field"


def _error_schema():
    # The spec's Error schema, self-contained (it has no $ref inside).
    return SPEC["components"]["schemas"]["Error"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/swagger/index.html", 404, "not_found"),
        ("DELETE", "/users", 405, "method_not_allowed"),
        ("GET", "/user", 405, "method_not_allowed"),
        ("POST", "/healthz", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_have_the_error_shape(live_server, http, method, path, status, code):
    response = http.request(method, f"{live_server}{path}", timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    jsonschema.validate(body, _error_schema())
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    if status == 405:
        assert response.headers.get("Allow"), "405 must say which methods are allowed"
