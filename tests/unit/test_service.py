"""The service's rules, with in-memory stand-ins for the two storage ports."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.avatar_store import ListedObject, StoredObject
from chalicelib.config import Settings
from chalicelib.errors import BackendUnavailable, EmailAlreadyExists, InvalidField, PayloadTooLarge
from chalicelib.service import UserService, decode_cursor, encode_cursor
from tests.fixtures.images import image_bytes

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryUsers:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.items: dict[str, object] = {}
        self.fail_with = fail_with

    def add(self, user) -> None:
        if self.fail_with:
            raise self.fail_with
        if user.email in self.items:
            raise EmailAlreadyExists("taken")
        self.items[user.email] = user

    def page(self, limit, start):
        emails = sorted(self.items)
        if start:
            emails = [e for e in emails if e > start]
        chunk = emails[:limit] if limit else emails
        more = limit is not None and len(emails) > limit
        return [self.items[e] for e in chunk], (chunk[-1] if more else None)

    def all(self):
        return iter(self.page(None, None)[0])

    def ping(self) -> None:
        if self.fail_with:
            raise self.fail_with


class MemoryAvatars:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, datetime]] = {}
        self.deleted_versions: list[StoredObject] = []

    def put(self, key, data, content_type):
        self.objects[key] = (data, content_type, NOW)
        return StoredObject(key, "v1")

    def delete(self, stored):
        self.deleted_versions.append(stored)
        del self.objects[stored.key]

    def delete_key(self, key):
        del self.objects[key]

    def list(self):
        return [ListedObject(key, modified) for key, (_, _, modified) in self.objects.items()]

    def ping(self) -> None:
        pass


def service(users=None, avatars=None, **settings) -> UserService:
    return UserService(users or MemoryUsers(), avatars or MemoryAvatars(), Settings(**settings))


def test_register_stores_the_normalized_user_and_a_sniffed_avatar():
    avatars = MemoryAvatars()
    user = service(avatars=avatars).register(" Ann ", "Ann@X.io", image_bytes("JPEG"))
    assert user.name == "Ann" and user.email == "ann@x.io"
    [(key, (data, content_type, _))] = avatars.objects.items()
    assert content_type == "image/jpeg" and key.endswith(".jpg") and key.startswith("avatars/")
    assert user.avatar_url == f"https://users-api-avatars.s3.us-east-1.amazonaws.com/{key}"


def test_avatar_base_url_replaces_the_s3_host():
    user = service(avatar_base_url="https://cdn.example.com/").register(
        "Ann", "ann@x.io", image_bytes())
    assert user.avatar_url.startswith("https://cdn.example.com/avatars/")


def test_keys_are_random_per_upload():
    svc, avatars = None, MemoryAvatars()
    svc = service(avatars=avatars)
    for i in range(20):
        svc.register("Ann", f"ann{i}@x.io", image_bytes())
    assert len(avatars.objects) == 20
    assert all(len(key.split("/")[1].split(".")[0]) == 32 for key in avatars.objects)


@pytest.mark.parametrize("name, email, avatar, field", [
    (None, "a@b.io", b"x", "name"), ("Ann", None, b"x", "email"), ("Ann", "a@b.io", None, "avatar"),
    ("", "a@b.io", b"x", "name"), ("Ann", "nope", b"x", "email"),
])
def test_missing_or_invalid_fields_write_nothing(name, email, avatar, field):
    avatars = MemoryAvatars()
    with pytest.raises(InvalidField) as error:
        service(avatars=avatars).register(name, email, avatar)
    assert error.value.field == field
    assert avatars.objects == {}


def test_oversized_avatar_is_refused_before_upload():
    avatars = MemoryAvatars()
    with pytest.raises(PayloadTooLarge):
        service(avatars=avatars, avatar_max_bytes=10).register("Ann", "a@b.io", image_bytes())
    assert avatars.objects == {}


def test_duplicate_email_removes_the_uploaded_version():
    users, avatars = MemoryUsers(), MemoryAvatars()
    svc = service(users, avatars)
    svc.register("Ann", "ann@x.io", image_bytes())
    with pytest.raises(EmailAlreadyExists):
        svc.register("Other Ann", "ANN@x.io", image_bytes())
    assert len(avatars.objects) == 1
    assert avatars.deleted_versions[0].version_id == "v1"


@pytest.mark.parametrize("failure", [BackendUnavailable("down"), RuntimeError("bug"),
                                     KeyboardInterrupt()])
def test_any_failure_of_the_item_write_removes_the_object(failure):
    avatars = MemoryAvatars()
    with pytest.raises(type(failure)):
        service(MemoryUsers(fail_with=failure), avatars).register("Ann", "a@b.io", image_bytes())
    assert avatars.objects == {}


def test_cursor_round_trip_and_rejection():
    assert decode_cursor(encode_cursor("ann@x.io")) == "ann@x.io"
    for bad in ["", "!!!", "bm90IGpzb24", encode_cursor("a") + "x", "eyJ4IjoxfQ"]:
        with pytest.raises(InvalidField):
            decode_cursor(bad)


def test_paging_walks_every_user_once():
    users = MemoryUsers()
    svc = service(users)
    for i in range(7):
        svc.register("U", f"u{i}@x.io", image_bytes())
    seen, cursor = [], None
    while True:
        page, cursor = svc.list_users(limit=3, cursor=cursor)
        seen += [u.email for u in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(users.items) and len(seen) == 7
    assert len(svc.list_users()[0]) == 7


def test_readiness_reports_each_backend_and_is_cached():
    users = MemoryUsers(fail_with=BackendUnavailable("down"))
    svc = service(users, readiness_cache_seconds=60)
    first = svc.readiness()
    assert not first.ready and first.checks["s3"] == "ok"
    assert first.checks["dynamodb"].startswith("unavailable")
    users.fail_with = None
    assert svc.readiness() is first  # cached


def test_sweep_finds_only_old_unreferenced_objects_and_dry_runs_by_default():
    users, avatars = MemoryUsers(), MemoryAvatars()
    svc = service(users, avatars)
    kept = svc.register("Ann", "ann@x.io", image_bytes())
    avatars.objects["avatars/orphan-old.png"] = (b"", "image/png", NOW - timedelta(hours=2))
    avatars.objects["avatars/orphan-new.png"] = (b"", "image/png", NOW)
    later = NOW + timedelta(minutes=30)
    report = svc.sweep_orphans(timedelta(minutes=60), apply=False, now=later)
    assert report.orphans == ["avatars/orphan-old.png"] and report.deleted == []
    assert "avatars/orphan-old.png" in avatars.objects
    report = svc.sweep_orphans(timedelta(minutes=60), apply=True, now=later)
    assert report.deleted == ["avatars/orphan-old.png"]
    assert set(avatars.objects) == {svc.key_of(kept.avatar_url), "avatars/orphan-new.png"}


def test_sweep_recognizes_keys_under_any_base_url():
    assert UserService.key_of("https://cdn.example.com/x/avatars/ab.png") == "avatars/ab.png"
    assert UserService.key_of("https://b.s3.us-east-1.amazonaws.com/avatars/ab.png") == "avatars/ab.png"
    assert UserService.key_of("https://elsewhere/other.png") is None


def test_a_slow_readiness_check_holds_one_thread_only():
    import threading

    release, started = threading.Event(), threading.Event()
    calls = []

    def slow_check():
        calls.append(1)
        if len(calls) > 1:
            started.set()
            release.wait(5)

    svc = UserService(MemoryUsers(), MemoryAvatars(), Settings(readiness_cache_seconds=0),
                      health_checks={"dynamodb": slow_check})
    first = svc.readiness()  # the first answer has nothing to fall back on: it waits
    checker = threading.Thread(target=svc.readiness)
    checker.start()
    assert started.wait(5)
    assert svc.readiness() is first  # answered from the previous check, not blocked
    release.set()
    checker.join(5)
    assert len(calls) == 2
