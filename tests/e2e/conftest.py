import pytest
import requests

from tests.fixtures.images import image_bytes

# The two ways a client reaches the app: HTTP to the real serving command (EKS), and API
# Gateway's proxy events to the Lambda handler, in-process (tests/fixtures/apigateway.py). A test
# module runs over both with `pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)`.
TRANSPORTS = ("http", "lambda")
# Sessions by base URL, so post_user(base_url) goes through the test's transport.
_SESSIONS: dict[str, requests.Session] = {}


@pytest.fixture
def transport() -> str:
    return "http"


@pytest.fixture
def api(request, transport, clean_backend):
    """A requests session on the app, with an empty table and bucket. Its `avatar_max_bytes`
    is that transport's AVATAR_MAX_BYTES default."""
    if transport == "lambda":
        session = request.getfixturevalue("lambda_gateway").session()
    else:
        session = requests.Session()
        session.base_url = request.getfixturevalue("live_server")
        session.avatar_max_bytes = 5 * 1024 * 1024
    _SESSIONS[session.base_url] = session
    yield session
    _SESSIONS.pop(session.base_url, None)
    session.close()


def post_user(base_url: str, name="Test User", email="test-user@prima.it", avatar=None,
              filename="avatar.png", content_type="image/png", session=None, **kwargs):
    """POST /user as multipart; a field given as None is left out, avatar=False too."""
    avatar = image_bytes() if avatar is None else avatar
    # Text fields go in `files` as (None, value) so the body is multipart even with no file.
    parts = {key: (None, value) for key, value in {"name": name, "email": email}.items()
             if value is not None}
    if avatar is not False:
        parts["avatar"] = (filename, avatar, content_type)
    session = session or _SESSIONS.get(base_url) or requests
    return session.post(f"{base_url}/user", files=parts, timeout=30, **kwargs)


def bucket_keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="users-api-avatars").get("Contents", [])]


def table_items(dynamodb) -> list[dict]:
    return dynamodb.scan(TableName="users")["Items"]
