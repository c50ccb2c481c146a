"""The service layer: every rule of the API, with the storage behind two small ports."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.avatar_store import AVATARS_PREFIX, AvatarStore
from chalicelib.adapters.users_table import UsersTable
from chalicelib.config import Settings
from chalicelib.errors import ApiError, BackendUnavailable, InvalidField, PayloadTooLarge
from chalicelib.images import sanitize_avatar
from chalicelib.model import User
from chalicelib.validation import clean_email, clean_name

log = logging.getLogger(__name__)

PAGE_LIMIT_MAX = 1000


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


@dataclass(frozen=True)
class SweepReport:
    scanned: int
    referenced: int
    orphans: list[str]
    deleted: list[str]


class UserService:
    def __init__(self, users: UsersTable, avatars: AvatarStore, settings: Settings,
                 health_checks: dict[str, Callable[[], None]] | None = None) -> None:
        self._users = users
        self._avatars = avatars
        self._settings = settings
        self._health_checks = health_checks or {"dynamodb": users.ping, "s3": avatars.ping}
        self._readiness: tuple[float, Readiness] | None = None
        self._readiness_lock = threading.Lock()

    # -- users ---------------------------------------------------------------

    def register(self, name: str | None, email: str | None, avatar: bytes | None) -> User:
        if name is None:
            raise InvalidField("name", "is required")
        if email is None:
            raise InvalidField("email", "is required")
        if avatar is None:
            raise InvalidField("avatar", "is required (a file field)")
        clean = User(name=clean_name(name), email=clean_email(email), avatar_url="")
        if len(avatar) > self._settings.avatar_max_bytes:
            raise PayloadTooLarge(f"avatar exceeds {self._settings.avatar_max_bytes} bytes")
        image = sanitize_avatar(avatar, self._settings.avatar_max_pixels,
                                self._settings.avatar_max_frames,
                                self._settings.avatar_decode_concurrency)

        # A random key: unguessable, and never derived from what the client sent.
        key = f"{AVATARS_PREFIX}{secrets.token_hex(16)}.{image.extension}"
        user = User(name=clean.name, email=clean.email, avatar_url=self.avatar_url(key))
        stored = self._avatars.put(key, image.data, image.content_type)
        try:
            self._users.add(user)
        except BaseException:
            # Never leave an object without its user, whatever stopped the write.
            self._discard(stored)
            raise
        return user

    def _discard(self, stored) -> None:
        try:
            self._avatars.delete(stored)
        except ApiError:
            # The orphan sweep removes it later; the original error is what the client needs.
            log.warning("could not delete orphan avatar", extra={"key": stored.key})

    def avatar_url(self, key: str) -> str:
        return f"{self._settings.public_avatar_base}/{key}"

    def list_users(self, limit: int | None = None, cursor: str | None = None
                   ) -> tuple[list[User], str | None]:
        """All users when neither limit nor cursor is given; otherwise one page.
        Returns the users and the opaque cursor of the next page (None at the end)."""
        if limit is None and cursor is None:
            return list(self._users.all()), None
        if limit is None:
            limit = PAGE_LIMIT_MAX
        start = decode_cursor(cursor) if cursor else None
        users, last = self._users.page(limit, start)
        return users, encode_cursor(last) if last else None

    # -- health --------------------------------------------------------------

    def readiness(self) -> Readiness:
        """Check the table and the bucket, at most once per cache period per process.

        While one thread checks, concurrent callers get the previous answer instead of
        queueing behind it, so a slow dependency never ties up more than one thread."""
        cached = self._readiness
        if cached and time.monotonic() - cached[0] < self._settings.readiness_cache_seconds:
            return cached[1]
        if not self._readiness_lock.acquire(blocking=cached is None):
            return cached[1]
        try:
            checks = {name: _probe(check) for name, check in self._health_checks.items()}
            result = Readiness(all(v == "ok" for v in checks.values()), checks)
            self._readiness = (time.monotonic(), result)
            return result
        finally:
            self._readiness_lock.release()

    # -- repair --------------------------------------------------------------

    def sweep_orphans(self, grace: timedelta, apply: bool, now: datetime | None = None
                      ) -> SweepReport:
        """Find avatar objects that no user references and that are older than `grace`.

        The grace period protects uploads whose user item is being written right now.
        Objects are listed before users are read, so a user created during the sweep
        can only make an object look referenced, never orphaned.
        """
        now = now or datetime.now(UTC)
        candidates = [obj for obj in self._avatars.list() if now - obj.last_modified > grace]
        referenced = {self.key_of(user.avatar_url) for user in self._users.all()}
        orphans = sorted(obj.key for obj in candidates if obj.key not in referenced)
        deleted: list[str] = []
        if apply:
            for key in orphans:
                self._avatars.delete_key(key)
                deleted.append(key)
        return SweepReport(scanned=len(candidates), referenced=len(referenced),
                           orphans=orphans, deleted=deleted)

    @staticmethod
    def key_of(avatar_url: str) -> str | None:
        # Taken from the URL's tail, not by stripping the configured base, so a
        # change of AVATAR_BASE_URL can never make a referenced object look orphaned.
        marker = "/" + AVATARS_PREFIX
        if marker not in avatar_url:
            return None
        return AVATARS_PREFIX + avatar_url.rsplit(marker, 1)[1]


def _probe(check) -> str:
    try:
        check()
    except BackendUnavailable as error:
        cause = error.__cause__
        return f"unavailable ({type(cause).__name__ if cause else 'error'})"
    return "ok"


def encode_cursor(email: str) -> str:
    raw = json.dumps({"email": email}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        email = data["email"]
        if not isinstance(email, str) or not email or set(data) != {"email"}:
            raise ValueError
        return email
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise InvalidField("cursor", "is not a cursor this API issued") from None
