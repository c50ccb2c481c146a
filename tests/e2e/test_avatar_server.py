"""The dev-only avatar server (api/devtools/avatar_server.py), which plays CloudFront's part for
`make run`: it serves avatars/* from the emulator's bucket, byte for byte, with a long-lived
Cache-Control, serves nothing else, and leaves the bucket's protections as they were.
(`make run`'s own test fetches a real avatar_url through it.)"""

from __future__ import annotations

import pytest
import requests

from devtools.avatar_server import CACHE_CONTROL, start_avatar_server
from tests.fixtures.emulator import free_port

BUCKET = "users-api-avatars"


@pytest.fixture
def avatar_server(clean_backend, s3):
    port = free_port()
    server = start_avatar_server("127.0.0.1", port, s3, BUCKET)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def test_an_avatar_is_served_byte_for_byte_with_a_long_cache_lifetime(avatar_server, s3):
    data = bytes(range(256)) * 40
    key = "avatars/0123456789abcdef0123456789abcdef.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/png")
    response = requests.get(f"{avatar_server}/{key}", timeout=10)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == CACHE_CONTROL
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    head = requests.head(f"{avatar_server}/{key}", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(data))


@pytest.mark.parametrize("path", [
    "/avatars/0123456789abcdef0123456789abcdef.png",  # no such object
    "/private/secret.txt",  # outside avatars/
    "/avatars/../private/secret.txt",
    "/avatars/nested/key.png",
    "/",
])
def test_nothing_but_existing_avatars_is_served(avatar_server, s3, path):
    s3.put_object(Bucket=BUCKET, Key="private/secret.txt", Body=b"secret")
    response = requests.get(f"{avatar_server}{path}", timeout=10)
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_the_bucket_keeps_its_protections(avatar_server, s3):
    """It reads with credentials, as CloudFront's origin access control does: the bucket gets no
    public policy and keeps its public-access block."""
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()), block
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_policy(Bucket=BUCKET)
