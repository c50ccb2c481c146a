"""The DynamoDB and S3 adapters against the moto server, over HTTP."""

import pytest

from chalicelib.adapters.avatar_store import AvatarStore
from chalicelib.adapters.aws import make_clients
from chalicelib.adapters.users_table import UsersTable
from chalicelib.config import settings_from_env
from chalicelib.errors import BackendUnavailable, EmailAlreadyExists
from chalicelib.model import User
from chalicelib.ports import StoredObject
from devtools.provisioning import bootstrap


@pytest.fixture
def settings(aws_env, clean_backend, monkeypatch):
    # boto3 reads AWS_ENDPOINT_URL and the credentials from the environment, as in production.
    for key, value in aws_env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return settings_from_env(aws_env)


@pytest.fixture
def adapters(settings):
    dynamodb, s3 = make_clients(settings)
    return UsersTable(dynamodb, settings.users_table), AvatarStore(s3, settings.avatars_bucket)


def user(i: int) -> User:
    return User(name=f"User {i}", email=f"user{i:04d}@x.io", avatar_url=f"https://h/avatars/{i}.png")


def test_add_writes_exactly_three_string_attributes(adapters, dynamodb):
    users, _ = adapters
    users.add(User("Test User", "test-user@prima.it", "https://h/avatars/a.png"))
    item = dynamodb.get_item(TableName="users", Key={"email": {"S": "test-user@prima.it"}})["Item"]
    assert item == {"name": {"S": "Test User"}, "email": {"S": "test-user@prima.it"},
                    "avatar_url": {"S": "https://h/avatars/a.png"}}


def test_add_is_conditional_on_the_email(adapters, dynamodb):
    users, _ = adapters
    users.add(user(1))
    with pytest.raises(EmailAlreadyExists):
        users.add(User("Someone Else", user(1).email, "https://h/avatars/b.png"))
    item = dynamodb.get_item(TableName="users", Key={"email": {"S": user(1).email}})["Item"]
    assert item["name"]["S"] == "User 1"


def test_paging_follows_last_evaluated_key(adapters):
    users, _ = adapters
    for i in range(25):
        users.add(user(i))
    emails, start = [], None
    while True:
        page, start = users.page(7, start)
        assert len(page) <= 7
        emails += [u.email for u in page]
        if start is None:
            break
    assert sorted(emails) == [user(i).email for i in range(25)]
    assert len(list(users.all())) == 25


def test_listing_everything_crosses_page_boundaries(adapters, dynamodb):
    users, _ = adapters
    for chunk in range(0, 2100, 25):
        dynamodb.batch_write_item(RequestItems={"users": [
            {"PutRequest": {"Item": {"name": {"S": "n"}, "email": {"S": f"bulk{i}@x.io"},
                                     "avatar_url": {"S": "u"}}}}
            for i in range(chunk, chunk + 25)
        ]})
    assert len({u.email for u in users.all()}) == 2100


def test_compensating_delete_leaves_a_delete_marker_not_a_version_delete(adapters, s3):
    """The serving role has no s3:DeleteObjectVersion: the object disappears behind a delete
    marker, and the bucket's noncurrent-version expiry removes the bytes later."""
    _, avatars = adapters
    stored = avatars.put("avatars/x.png", b"\x89PNG...", "image/png")
    assert stored.version_id
    head = s3.head_object(Bucket="users-api-avatars", Key="avatars/x.png")
    assert head["ContentType"] == "image/png"
    avatars.delete(stored)
    listed = s3.list_objects_v2(Bucket="users-api-avatars", Prefix="avatars/")
    assert listed.get("KeyCount", 0) == 0
    versions = s3.list_object_versions(Bucket="users-api-avatars", Prefix="avatars/")
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [stored.version_id]
    assert not versions["Versions"][0]["IsLatest"]
    (marker,) = versions.get("DeleteMarkers", [])
    assert marker["Key"] == "avatars/x.png" and marker["IsLatest"]


def test_listing_and_ping(adapters):
    users, avatars = adapters
    avatars.put("avatars/a.png", b"a", "image/png")
    avatars.put("avatars/b.png", b"b", "image/png")
    assert sorted(o.key for o in avatars.list()) == ["avatars/a.png", "avatars/b.png"]
    users.ping()
    avatars.ping()


def test_unreachable_backend_is_backend_unavailable(settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    dynamodb, s3 = make_clients(settings)
    with pytest.raises(BackendUnavailable) as error:
        UsersTable(dynamodb, "users").ping()
    assert "127.0.0.1" not in error.value.message
    with pytest.raises(BackendUnavailable):
        AvatarStore(s3, "users-api-avatars").delete(StoredObject("avatars/x.png", None))


def test_bootstrap_is_idempotent_and_applies_bucket_protections(settings, s3):
    bootstrap(settings)
    bootstrap(settings)
    block = s3.get_public_access_block(Bucket="users-api-avatars")["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert s3.get_bucket_versioning(Bucket="users-api-avatars")["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket="users-api-avatars")[
        "ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_whole_listing_uses_dynamodbs_own_pages(adapters, dynamodb):
    users, _ = adapters
    for chunk in range(0, 1500, 25):
        dynamodb.batch_write_item(RequestItems={"users": [
            {"PutRequest": {"Item": {"name": {"S": "N" * 100}, "email": {"S": f"big{i}@x.io"},
                                     "avatar_url": {"S": "https://h/avatars/" + "a" * 600}}}}
            for i in range(chunk, chunk + 25)
        ]})
    scans = []
    users._client.meta.events.register("before-call.dynamodb.Scan",
                                       lambda params, **_: scans.append(params))
    assert len(list(users.all())) == 1500
    # About 1.1 MB of items: two 1 MB Scan pages, and no Limit that would cut them smaller.
    assert len(scans) == 2 and all("Limit" not in call for call in scans)
