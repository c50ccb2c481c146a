import pytest
import requests

from tests.fixtures.images import image_bytes


@pytest.fixture
def api(live_server, clean_backend):
    """A requests session on the live server, with an empty table and bucket."""
    session = requests.Session()
    session.base_url = live_server
    yield session
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
    return (session or requests).post(f"{base_url}/user", files=parts, timeout=30, **kwargs)


def bucket_keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="users-api-avatars").get("Contents", [])]


def table_items(dynamodb) -> list[dict]:
    return dynamodb.scan(TableName="users")["Items"]
