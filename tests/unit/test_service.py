"""The service's rules, with in-memory stand-ins for the two storage ports."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import avatar_keys
from chalicelib.config import Settings
from chalicelib.errors import BackendUnavailable, EmailAlreadyExists, InvalidField, PayloadTooLarge
from chalicelib.model import User
from chalicelib.ports import AvatarStorage, ListedObject, StoredObject, UsersRepository
from chalicelib.readiness import ReadinessProbe
from chalicelib.service import UserService, decode_cursor, encode_cursor
from chalicelib.sweep import OrphanSweep
from tests.fixtures.images import image_bytes

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryUsers:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.items: dict[str, User] = {}
        self.fail_with = fail_with

    def add(self, user: User) -> None:
        if self.fail_with:
            raise self.fail_with
        if user.email in self.items:
            raise EmailAlreadyExists("taken")
        self.items[user.email] = user

    def page(self, limit: int | None, start: str | None) -> tuple[list[User], str | None]:
        emails = sorted(self.items)
        if start:
            emails = [e for e in emails if e > start]
        chunk = emails[:limit] if limit else emails
        more = limit is not None and len(emails) > limit
        return [self.items[e] for e in chunk], (chunk[-1] if more else None)

    def all(self) -> Iterator[User]:
        return iter(self.page(None, None)[0])

    def ping(self) -> None:
        if self.fail_with:
            raise self.fail_with


class MemoryAvatars:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, datetime]] = {}
        self.deleted_versions: list[StoredObject] = []

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        self.objects[key] = (data, content_type, NOW)
        return StoredObject(key, "v1")

    def delete(self, stored: StoredObject) -> None:
        self.deleted_versions.append(stored)
        del self.objects[stored.key]

    def delete_key(self, key: str) -> None:
        del self.objects[key]

    def list(self) -> list[ListedObject]:
        return [ListedObject(key, modified) for key, (_, _, modified) in self.objects.items()]

    def ping(self) -> None:
        pass


def test_the_fakes_and_the_adapters_implement_the_ports():
    from chalicelib.adapters.avatar_store import AvatarStore
    from chalicelib.adapters.users_table import UsersTable

    assert isinstance(MemoryUsers(), UsersRepository)
    assert isinstance(MemoryAvatars(), AvatarStorage)
    assert isinstance(UsersTable(None, "users"), UsersRepository)
    assert isinstance(AvatarStore(None, "bucket"), AvatarStorage)
    assert not isinstance(MemoryAvatars(), UsersRepository)


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
        page = svc.list_users(limit=3, cursor=cursor)
        assert page.limit == 3
        seen += [u.email for u in page.users]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(users.items) and len(seen) == 7
    whole = svc.list_users()
    assert len(whole.users) == 7 and whole.next_cursor is None and whole.limit is None


def test_a_cursor_without_a_limit_gets_the_largest_page():
    svc = service()
    svc.register("U", "u@x.io", image_bytes())
    page = svc.list_users(cursor=encode_cursor("a@x.io"))
    assert page.limit == 1000 and [u.email for u in page.users] == ["u@x.io"]


def test_readiness_reports_each_backend_and_is_cached():
    users, avatars = MemoryUsers(fail_with=BackendUnavailable("down")), MemoryAvatars()
    probe = ReadinessProbe({"dynamodb": users.ping, "s3": avatars.ping}, cache_seconds=60)
    first = probe.check()
    assert not first.ready and first.checks["s3"] == "ok"
    assert first.checks["dynamodb"].startswith("unavailable")
    users.fail_with = None
    assert probe.check() is first  # cached


@pytest.mark.parametrize("cache_seconds, retry_after", [(60, 60), (5.9, 5), (0.5, 1), (0, 1)])
def test_readiness_says_when_to_ask_again(cache_seconds, retry_after):
    probe = ReadinessProbe({"s3": MemoryAvatars().ping}, cache_seconds=cache_seconds)
    assert probe.check().retry_after_seconds == retry_after


def test_sweep_finds_only_old_unreferenced_objects_and_dry_runs_by_default():
    users, avatars = MemoryUsers(), MemoryAvatars()
    svc, sweep = service(users, avatars), OrphanSweep(users, avatars)
    kept = svc.register("Ann", "ann@x.io", image_bytes())
    avatars.objects["avatars/orphan-old.png"] = (b"", "image/png", NOW - timedelta(hours=2))
    avatars.objects["avatars/orphan-new.png"] = (b"", "image/png", NOW)
    later = NOW + timedelta(minutes=30)
    report = sweep.run(timedelta(minutes=60), apply=False, now=later)
    assert report.orphans == ["avatars/orphan-old.png"] and report.deleted == []
    assert "avatars/orphan-old.png" in avatars.objects
    report = sweep.run(timedelta(minutes=60), apply=True, now=later)
    assert report.deleted == ["avatars/orphan-old.png"]
    assert set(avatars.objects) == {avatar_keys.key_of(kept.avatar_url), "avatars/orphan-new.png"}


def test_sweep_recognizes_keys_under_any_base_url():
    assert avatar_keys.key_of("https://cdn.example.com/x/avatars/ab.png") == "avatars/ab.png"
    assert avatar_keys.key_of("https://b.s3.us-east-1.amazonaws.com/avatars/ab.png") == "avatars/ab.png"
    assert avatar_keys.key_of("https://elsewhere/other.png") is None


def test_a_slow_readiness_check_holds_one_thread_only():
    import threading

    release, started = threading.Event(), threading.Event()
    calls = []

    def slow_check():
        calls.append(1)
        if len(calls) > 1:
            started.set()
            release.wait(5)

    probe = ReadinessProbe({"dynamodb": slow_check}, cache_seconds=0)
    first = probe.check()  # the first answer has nothing to fall back on: it waits
    checker = threading.Thread(target=probe.check)
    checker.start()
    assert started.wait(5)
    assert probe.check() is first  # answered from the previous check, not blocked
    release.set()
    checker.join(5)
    assert len(calls) == 2
