"""The HTTP contract, end to end: the real serving command against the moto server."""

import io
import re

import pytest
from PIL import Image

from tests.e2e.conftest import TRANSPORTS, bucket_keys, post_user, table_items
from tests.fixtures.images import image_bytes, jpeg_with_gps_exif

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)
# A request id the API made: its own, or on Lambda the one API Gateway gave the request.
FRESH_ID = r"[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"

URL_RE = re.compile(r"^https://users-api-avatars\.s3\.us-east-1\.amazonaws\.com/avatars/[0-9a-f]{32}\.png$")


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    # API Gateway's own answers (the Lambda target) carry its request id as x-amzn-RequestId.
    assert body["error"]["request_id"] == (response.headers.get("X-Request-ID")
                                           or response.headers["x-amzn-RequestId"])
    assert "Traceback" not in response.text and "botocore" not in response.text


def test_create_then_list(api, dynamodb, s3):
    created = post_user(api.base_url, filename="../../etc/passwd.png")
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"name", "email", "avatar_url"}
    assert user["name"] == "Test User" and user["email"] == "test-user@prima.it"
    assert URL_RE.match(user["avatar_url"]), user["avatar_url"]

    listed = api.get(f"{api.base_url}/users")
    assert listed.status_code == 200
    assert listed.json() == [{"avatar_url": user["avatar_url"], "email": user["email"],
                              "name": user["name"]}]

    [item] = table_items(dynamodb)
    assert item == {"name": {"S": "Test User"}, "email": {"S": "test-user@prima.it"},
                    "avatar_url": {"S": user["avatar_url"]}}
    [key] = bucket_keys(s3)
    assert user["avatar_url"].endswith("/" + key) and "passwd" not in key and ".." not in key
    stored = s3.get_object(Bucket="users-api-avatars", Key=key)
    assert stored["ContentType"] == "image/png"
    image = Image.open(io.BytesIO(stored["Body"].read()))
    assert image.format == "PNG" and image.size == (32, 32) and image.getpixel((0, 0)) == (255, 0, 0)


def test_content_type_is_sniffed_and_exif_is_gone(api, s3):
    response = post_user(api.base_url, avatar=jpeg_with_gps_exif(), filename="photo.png",
                         content_type="image/png")
    assert response.status_code == 201
    assert response.json()["avatar_url"].endswith(".jpg")
    [key] = bucket_keys(s3)
    stored = s3.get_object(Bucket="users-api-avatars", Key=key)
    data = stored["Body"].read()
    assert stored["ContentType"] == "image/jpeg"
    assert b"Exif" not in data and b"secret-location" not in data and b"shot at home" not in data
    assert not Image.open(io.BytesIO(data)).getexif()


def test_duplicate_email_in_other_case_is_409_and_leaves_no_object(api, s3, dynamodb):
    assert post_user(api.base_url, email="Ann@X.io").status_code == 201
    again = post_user(api.base_url, name="Other", email="ann@x.IO")
    assert_error(again, 409, "email_exists")
    assert len(bucket_keys(s3)) == 1 and len(table_items(dynamodb)) == 1
    assert table_items(dynamodb)[0]["email"]["S"] == "ann@x.io"


@pytest.mark.parametrize("kwargs, code", [
    ({"name": None}, "invalid_field"),
    ({"email": None}, "invalid_field"),
    ({"avatar": False}, "invalid_field"),
    ({"name": "   "}, "invalid_field"),
    ({"name": "x" * 101}, "invalid_field"),
    ({"name": "evil\x07bell"}, "invalid_field"),
    ({"email": "not-an-email"}, "invalid_field"),
    ({"avatar": b""}, "invalid_field"),
])
def test_invalid_fields_are_400(api, s3, kwargs, code):
    assert_error(post_user(api.base_url, **kwargs), 400, code)
    assert bucket_keys(s3) == []


def test_avatar_sent_as_text_is_400(api):
    response = api.post(f"{api.base_url}/user",
                        files={"name": (None, "Ann"), "email": (None, "a@b.io"),
                               "avatar": (None, "not a file")})
    assert_error(response, 400, "invalid_field")


def test_malformed_multipart_is_400(api):
    response = api.post(f"{api.base_url}/user", data=b"--zzz\r\nnonsense",
                        headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("headers, body", [
    ({"Content-Type": "application/json"}, b'{"name": "Ann"}'),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"name=Ann"),
    ({}, b""),
])
def test_non_multipart_is_415(api, headers, body):
    assert_error(api.post(f"{api.base_url}/user", data=body, headers=headers),
                 415, "unsupported_media_type")


@pytest.mark.parametrize("avatar", [b"GIF87a but not really", b"%PDF-1.4", image_bytes("BMP"),
                                    b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_non_images_are_415_whatever_the_declared_type(api, s3, avatar):
    assert_error(post_user(api.base_url, avatar=avatar, content_type="image/png"),
                 415, "unsupported_media_type")
    assert bucket_keys(s3) == []


def test_avatar_over_the_limit_is_413(api, s3):
    # Just over AVATAR_MAX_BYTES: the request itself is within the body limit,
    # so this is the form parser's limit at work.
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * api.avatar_max_bytes
    assert_error(post_user(api.base_url, avatar=big), 413, "payload_too_large")
    assert bucket_keys(s3) == []


def test_request_over_the_limit_is_413_before_the_body_is_read(api, transport):
    if transport == "lambda":
        pytest.skip("no streamed body on Lambda: API Gateway or Lambda refuse such a request "
                    "(tests/serverless/test_lambda_events.py)")
    huge = b"\x00" * (6 * 1024 * 1024)
    assert_error(post_user(api.base_url, avatar=huge), 413, "payload_too_large")


def test_decompression_bomb_is_413(api, s3):
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    assert_error(post_user(api.base_url, avatar=out.getvalue()), 413, "payload_too_large")
    assert bucket_keys(s3) == []


def test_unknown_route_and_wrong_method(api):
    assert_error(api.get(f"{api.base_url}/nope"), 404, "not_found")
    assert_error(api.get(f"{api.base_url}/user"), 405, "method_not_allowed")
    assert_error(api.delete(f"{api.base_url}/users"), 405, "method_not_allowed")


def test_api_headers_and_request_ids(api):
    response = api.get(f"{api.base_url}/users", headers={"X-Request-ID": "trace-abc-12345"})
    assert response.headers["X-Request-ID"] == "trace-abc-12345"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    insane = api.get(f"{api.base_url}/users", headers={"X-Request-ID": "bad id\twith junk"})
    assert re.fullmatch(FRESH_ID, insane.headers["X-Request-ID"])
    missing = api.get(f"{api.base_url}/nope")
    assert re.fullmatch(FRESH_ID, missing.headers.get("X-Request-ID") or missing.headers["x-amzn-RequestId"])
    assert missing.headers["X-Content-Type-Options"] == "nosniff"


def test_paging(api, dynamodb):
    for i in range(23):
        dynamodb.put_item(TableName="users", Item={
            "name": {"S": f"U{i}"}, "email": {"S": f"u{i:02d}@x.io"},
            "avatar_url": {"S": f"https://h/avatars/{i}.png"}})
    seen, url, pages = [], f"{api.base_url}/users?limit=10", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        assert isinstance(response.json(), list) and len(response.json()) <= 10
        seen += [user["email"] for user in response.json()]
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor:
            link = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["Link"])
            assert link and f"cursor={cursor}" in link.group(1)
            url = api.base_url + link.group(1)
        else:
            assert "Link" not in response.headers
            url = None
    assert pages == 3 and sorted(seen) == [f"u{i:02d}@x.io" for i in range(23)]
    assert len(api.get(f"{api.base_url}/users").json()) == 23


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "limit=-1",
                                   "cursor=not-a-cursor", "cursor=", "limit=5&cursor=%%%"])
def test_bad_paging_parameters_are_400(api, query):
    assert_error(api.get(f"{api.base_url}/users?{query}"), 400, "invalid_field")


def test_listing_is_complete_beyond_one_scan_page(api, dynamodb):
    for chunk in range(0, 1500, 25):
        dynamodb.batch_write_item(RequestItems={"users": [
            {"PutRequest": {"Item": {"name": {"S": "N" * 100}, "email": {"S": f"bulk{i}@x.io"},
                                     "avatar_url": {"S": "https://h/avatars/" + "a" * 600}}}}
            for i in range(chunk, chunk + 25)
        ]})
    users = api.get(f"{api.base_url}/users").json()
    assert len({user["email"] for user in users}) == 1500


def test_health_endpoints(api):
    assert api.get(f"{api.base_url}/healthz").json() == {"status": "ok"}
    ready = api.get(f"{api.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"dynamodb": "ok", "s3": "ok"}}


def test_concurrent_creates_of_one_email_make_one_user_and_one_object(api, s3, dynamodb):
    from concurrent.futures import ThreadPoolExecutor

    avatar = image_bytes()
    spellings = ["race@x.io", "RACE@x.io", "Race@X.IO"]
    emails = [spellings[i % 3] for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(
            lambda email: post_user(api.base_url, email=email, avatar=avatar).status_code, emails))
    assert sorted(statuses) == [201] + [409] * 19
    assert len(bucket_keys(s3)) == 1 and len(table_items(dynamodb)) == 1


def test_avatar_base_url_is_honoured(start_server, aws_env, clean_backend, transport):
    if transport == "lambda":
        pytest.skip("the serving command's environment; the serverless stack sets the function's")
    url, _ = start_server({**aws_env, "AVATAR_BASE_URL": "http://127.0.0.1:4566/users-api-avatars"})
    response = post_user(url)
    assert response.status_code == 201
    assert re.fullmatch(r"http://127\.0\.0\.1:4566/users-api-avatars/avatars/[0-9a-f]{32}\.png",
                        response.json()["avatar_url"])


def test_openapi_spec_is_served(api):
    spec = api.get(f"{api.base_url}/openapi.json", timeout=10).json()
    assert {"/users", "/user", "/healthz", "/readyz"} <= set(spec["paths"])
    assert "/metrics" not in spec["paths"]  # served on METRICS_PORT, not by the API
    assert api.get(f"{api.base_url}/openapi.yaml", timeout=10).text.lstrip().startswith(
        ("openapi", "#"))
