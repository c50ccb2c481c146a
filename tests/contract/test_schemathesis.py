"""Contract test: schemathesis drives the live server from the static OpenAPI spec.

Every operation in ``api/chalicelib/openapi.yaml`` is fuzzed against the real serving
command (waitress + the WSGI shim) in front of the moto server. Every response must be
free of 5xx and conform to the spec: status code, content type, headers and body.

Explicit cases follow, for what random data rarely reaches, each checked against the
spec too: a created user (201), a duplicate (409), paging with ``X-Next-Cursor`` and
``Link``, unknown routes and methods, the 503s of a server whose backend is down, and
a few inputs that once crashed parsers (non-ASCII digits, non-Latin-1 part headers,
an overlong multipart boundary).
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

from tests.fixtures.emulator import emulator_env, free_port

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


def _header(response, name: str) -> str | None:
    """One header of a schemathesis response (lower-cased keys, list values)."""
    values = response.headers.get(name.lower())
    return values[0] if values else None


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
    assert duplicate.json()["error"]["request_id"] == _header(duplicate, "X-Request-ID")


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
        cursor = _header(response, "X-Next-Cursor")
        if cursor is None:
            assert _header(response, "Link") is None
            break
        link = re.fullmatch(r'<([^>]+)>; rel="next"', _header(response, "Link") or "")
        assert link, _header(response, "Link")
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


@pytest.fixture(scope="module")
def server_without_backend(start_server):
    """The serving command pointed at a port where nothing listens: every backend call fails."""
    url, _ = start_server(emulator_env(f"http://127.0.0.1:{free_port()}"))
    return url


@pytest.mark.parametrize(
    ("method", "path", "case_kwargs"),
    [
        ("GET", "/readyz", {}),
        ("GET", "/users", {}),
        ("GET", "/users", {"query": {"limit": 5}}),
        (
            "POST",
            "/user",
            {
                "body": {"name": "Nobody", "email": "nobody@example.com", "avatar": _png()},
                "media_type": "multipart/form-data",
                "multipart_content_types": {"avatar": "image/png"},
            },
        ),
    ],
)
def test_backend_down_responses_conform(server_without_backend, http, method, path, case_kwargs):
    case = schema[path][method].Case(**case_kwargs)
    # 503 is the documented answer here, so only the "no 5xx" check is left out.
    response = case.call_and_validate(
        base_url=server_without_backend,
        session=http,
        timeout=60,
        excluded_checks=[schemathesis.checks.not_a_server_error],
    )
    assert response.status_code == 503, response.text
    if path == "/readyz":
        checks = response.json()["checks"]
        assert checks["dynamodb"] != "ok" and checks["s3"] != "ok"
    else:
        assert response.json()["error"]["code"] == "service_unavailable"
        assert int(_header(response, "Retry-After")) >= 0


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661\u0662", "\uff15"])
def test_non_ascii_digits_are_not_a_limit(live_server, http, limit):
    # str.isdigit() is true for these, int() refuses "²" and accepts "١٢" (12).
    response = (
        schema["/users"]["GET"]
        .Case(query={"limit": limit})
        .call_and_validate(base_url=live_server, session=http, timeout=30)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_field"


def _validate_raw(response: requests.Response, path: str = "/user", method: str = "POST"):
    """Check a response to a hand-made request against the spec."""
    schema[path][method].Case(media_type="multipart/form-data").validate_response(response)


@pytest.mark.parametrize("filename", ["аватар.png", "头像.png", "😀.png", "résumé.png"])
def test_non_latin1_file_names_are_accepted(live_server, http, filename):
    # Browsers send the file name as raw UTF-8 in the part's Content-Disposition.
    response = http.post(
        f"{live_server}/user",
        data={"name": "Unicode File", "email": _email()},
        files={"avatar": (filename, _png(), "image/png")},
        timeout=30,
    )
    _validate_raw(response)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("part_name", ["имя", "名前", "😀"])
def test_unknown_non_latin1_part_names_are_a_client_error(live_server, http, part_name):
    body = (
        f'--b\r\nContent-Disposition: form-data; name="{part_name}"\r\n\r\nx\r\n--b--\r\n'
    ).encode()
    response = http.post(
        f"{live_server}/user",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    _validate_raw(response)
    assert response.status_code == 400, response.text


def test_overlong_boundary_is_a_client_error(live_server, http):
    boundary = "b" * 300
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=n\r\n\r\nx\r\n--{boundary}--\r\n"
    response = http.post(
        f"{live_server}/user",
        data=body.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    _validate_raw(response)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
