"""What is particular to the Lambda target, with real proxy events sent to `app(event, context)`
against the emulator (the contract itself runs over both transports: tests/e2e/test_api.py).

The limits of the platform, the event's shape (base64 multipart bodies, multi-value headers and
query strings), API Gateway's own answers, the routes that are not public on Lambda, the binary
Swagger UI assets and the metrics as CloudWatch EMF lines.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image

from chalicelib.config import settings_from_env
from chalicelib.lambda_limits import (
    EVENT_ENVELOPE_BYTES,
    FORM_OVERHEAD_BYTES,
    INVOKE_PAYLOAD_LIMIT,
    LAMBDA_AVATAR_MAX_BYTES,
)
from tests.e2e.conftest import bucket_keys, post_user, table_items
from tests.fixtures.apigateway import BASE_URL, EventTooLarge, Route, proxy_event
from tests.fixtures.images import image_bytes, noise_png

# Keys of AWS's documented sample event for a REST API proxy integration.
SAMPLE_EVENT_KEYS = {"resource", "path", "httpMethod", "headers", "multiValueHeaders",
                     "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                     "stageVariables", "requestContext", "body", "isBase64Encoded"}
SAMPLE_CONTEXT_KEYS = {"accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId",
                       "httpMethod", "identity", "path", "protocol", "requestId", "requestTime",
                       "requestTimeEpoch", "resourceId", "resourcePath", "stage"}
# What a browser sends along, with a cookie near API Gateway's 10 KiB header budget.
BROWSER_HEADERS = {
    "Accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "Accept-Language": "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7",
    "User-Agent": "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36",
    "Cookie": "session=" + "c" * 8000,
}


@pytest.fixture
def lam(lambda_gateway, clean_backend):
    """An operator's session (signed requests) on the Lambda handler, empty table and bucket."""
    session = lambda_gateway.session()
    lambda_gateway.events.clear()
    yield session
    session.close()


def padded_png(size: int) -> bytes:
    """A real PNG of exactly `size` bytes (random pixels, then bytes after its end chunk)."""
    data = noise_png(size - 64 * 1024)
    assert len(data) <= size
    return data + b"\x00" * (size - len(data))


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    return body["error"]


# ------------------------------------------------------------------------------ the event itself
def test_the_upload_arrives_as_a_base64_multipart_event_like_aws_sample(lam, lambda_gateway, s3):
    avatar = image_bytes()
    created = post_user(BASE_URL, avatar=avatar, session=lam)
    assert created.status_code == 201, created.text
    [event] = lambda_gateway.events
    assert set(event) == SAMPLE_EVENT_KEYS
    assert set(event["requestContext"]) >= SAMPLE_CONTEXT_KEYS
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/user"
    assert event["httpMethod"] == "POST" and event["requestContext"]["path"] == "/api/user"
    assert event["isBase64Encoded"] is True
    raw = base64.b64decode(event["body"])
    content_type = event["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert event["multiValueHeaders"]["Content-Type"] == [content_type]
    assert avatar in raw and b'name="email"' in raw
    [key] = bucket_keys(s3)
    stored = s3.get_object(Bucket="users-api-avatars", Key=key)["Body"].read()
    assert Image.open(io.BytesIO(stored)).size == (32, 32)


def test_multi_value_query_strings_the_last_value_wins(lam, lambda_gateway, dynamodb):
    for i in range(12):
        dynamodb.put_item(TableName="users", Item={
            "name": {"S": f"U{i}"}, "email": {"S": f"u{i:02d}@x.io"},
            "avatar_url": {"S": f"https://h/avatars/{i}.png"}})
    response = lam.get(f"{BASE_URL}/users?limit=2&limit=5")
    assert response.status_code == 200 and len(response.json()) == 5
    [event] = lambda_gateway.events
    assert event["multiValueQueryStringParameters"] == {"limit": ["2", "5"]}
    assert event["queryStringParameters"] == {"limit": "5"}
    bad = lam.get(f"{BASE_URL}/users?limit=5&limit=0")
    assert error_of(bad, 400, "invalid_field")["message"].startswith("limit")


def test_multi_value_headers_the_last_value_is_the_one_the_app_reads(lambda_gateway, clean_backend):
    route = Route("/users", "public")
    event = proxy_event(
        method="GET", path="/users", query=[],
        headers=[("X-Request-ID", "first-id-123456"), ("X-Request-ID", "second-id-123456"),
                 ("Accept", "application/json")],
        body=b"", route=route, path_parameters={}, binary_types=lambda_gateway.binary_types,
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef", signed=False)
    assert event["multiValueHeaders"]["X-Request-ID"] == ["first-id-123456", "second-id-123456"]
    result = lambda_gateway.invoke(event)
    assert result["statusCode"] == 200
    assert result["headers"]["X-Request-ID"] == "second-id-123456"
    assert json.loads(result["body"]) == []


def test_without_a_client_id_the_request_id_is_api_gateways(lam):
    response = lam.get(f"{BASE_URL}/users")
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == response.headers["x-amzn-RequestId"]
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", response.headers["X-Request-ID"])


# ------------------------------------------------------------------------------ the upload limit
def test_the_lambda_default_is_the_arithmetic():
    assert settings_from_env({"AWS_LAMBDA_FUNCTION_NAME": "f"}).avatar_max_bytes == 4_628_480
    assert settings_from_env({}).avatar_max_bytes == 5 * 1024 * 1024
    overridden = {"AWS_LAMBDA_FUNCTION_NAME": "f", "AVATAR_MAX_BYTES": "1000000"}
    assert settings_from_env(overridden).avatar_max_bytes == 1_000_000
    # The largest form the app accepts, base64-encoded, plus the envelope, fits in one invoke.
    largest_body = LAMBDA_AVATAR_MAX_BYTES + FORM_OVERHEAD_BYTES
    assert -(-largest_body // 3) * 4 + EVENT_ENVELOPE_BYTES <= INVOKE_PAYLOAD_LIMIT


def test_the_largest_avatar_reaches_the_handler_and_is_stored(lam, lambda_gateway, s3):
    avatar = padded_png(LAMBDA_AVATAR_MAX_BYTES)
    lam.headers.update(BROWSER_HEADERS)
    created = post_user(BASE_URL, avatar=avatar, session=lam)
    assert created.status_code == 201, created.text[:500]
    [event] = lambda_gateway.events
    size = len(json.dumps(event).encode())
    # A browser's headers and a long cookie included, the event still has room to spare.
    assert size <= INVOKE_PAYLOAD_LIMIT - 8 * 1024, size
    assert len(bucket_keys(s3)) == 1


def test_one_byte_more_is_the_handlers_json_413(lam, lambda_gateway, s3, dynamodb):
    response = post_user(BASE_URL, avatar=padded_png(LAMBDA_AVATAR_MAX_BYTES + 1), session=lam)
    error = error_of(response, 413, "payload_too_large")
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert len(lambda_gateway.events) == 1  # the handler answered, not the platform
    assert bucket_keys(s3) == [] and table_items(dynamodb) == []


def test_a_request_too_large_for_one_invoke_never_reaches_the_handler(lam, lambda_gateway):
    with pytest.raises(EventTooLarge, match="invoke limit"):
        post_user(BASE_URL, avatar=b"\x89PNG\r\n\x1a\n" + b"\x00" * (4_800_000), session=lam)
    assert lambda_gateway.events == []


def test_a_body_over_api_gateways_10_mb_is_its_json_413(lam, lambda_gateway):
    response = lam.post(f"{BASE_URL}/user", data=b"\x00" * (10 * 1024 * 1024 + 1),
                        headers={"Content-Type": "multipart/form-data; boundary=x"})
    error = error_of(response, 413, "payload_too_large")
    assert error["request_id"] == response.headers["x-amzn-RequestId"]
    assert lambda_gateway.events == []


# ------------------------------------------------------------------------------ routes on Lambda
def test_metrics_is_not_routed_and_readyz_needs_a_signed_request(lambda_gateway, clean_backend):
    anonymous = lambda_gateway.session(signed=False)
    lambda_gateway.events.clear()
    for path in ("/metrics", "/readyz", "/", "/users/extra"):
        response = anonymous.get(f"{BASE_URL}{path}")
        error = error_of(response, 404, "not_found")
        assert error["request_id"] == response.headers["x-amzn-RequestId"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    assert lambda_gateway.events == []
    assert anonymous.get(f"{BASE_URL}/healthz").json() == {"status": "ok"}
    signed = lambda_gateway.session()
    ready = signed.get(f"{BASE_URL}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"dynamodb": "ok", "s3": "ok"}}


def test_a_wrong_method_reaches_the_app_for_its_405(lam):
    response = lam.put(f"{BASE_URL}/users")
    error_of(response, 405, "method_not_allowed")
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("accept", [BROWSER_HEADERS["Accept"], "*/*", "image/png"])
def test_swagger_ui_images_come_back_as_bytes(lam, accept):
    from chalicelib import swagger

    response = lam.get(f"{BASE_URL}/swagger/favicon-32x32.png", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content == (swagger._BUNDLE_DIR / "favicon-32x32.png").read_bytes()
    page = lam.get(f"{BASE_URL}/swagger", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text


# ------------------------------------------------------------------------------ metrics as EMF
def emf_lines(text: str) -> list[dict]:
    documents = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def test_each_request_writes_its_metrics_as_emf(lam, capsys):
    capsys.readouterr()
    assert lam.get(f"{BASE_URL}/users").status_code == 200
    assert post_user(BASE_URL, name=None, session=lam).status_code == 400
    documents = emf_lines(capsys.readouterr().out)
    by_metric: dict[str, list[dict]] = {}
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "users-api-test"
        [dimensions] = directive["Dimensions"]
        assert all(isinstance(document[name], str) and document[name] for name in dimensions)
        [metric] = directive["Metrics"]
        assert metric["Name"] in document
        by_metric.setdefault(metric["Name"], []).append(document)
    requests_ = by_metric["users_api_requests"]
    assert [(d["route"], d["method"], d["status"], d["users_api_requests"]) for d in requests_] == [
        ("/users", "GET", "200", 1.0), ("/user", "POST", "400", 1.0)]
    durations = by_metric["users_api_request_duration_seconds"]
    assert [(d["route"], d["method"]) for d in durations] == [("/users", "GET"), ("/user", "POST")]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Seconds"
               and len(d["users_api_request_duration_seconds"]) == 1
               and 0 < d["users_api_request_duration_seconds"][0] < 10 for d in durations)


def test_chalice_config_holds_no_configuration():
    """Under `chalice local` a stage's environment_variables override the process's: the file
    sets none, so configuration stays environment-only (cdk/README.md, "Serverless target")."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "api" / ".chalice" / "config.json"
    config = json.loads(path.read_text())

    def keys(node) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for value in node.values() for k in keys(value)}
        return set()

    assert config["app_name"] == "users-api"
    assert not keys(config) & {"environment_variables", "lambda_memory_size", "lambda_timeout",
                               "iam_policy_file", "reserved_concurrency"}
