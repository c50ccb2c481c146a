"""The service layer: the rules for users, with the storage behind two ports (chalicelib/ports.py).

Readiness (readiness.py) and the orphan sweep (sweep.py) live next to it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass

from chalicelib import avatar_keys
from chalicelib.config import Settings
from chalicelib.errors import ApiError, InvalidField, PayloadTooLarge
from chalicelib.images import sanitize_avatar
from chalicelib.model import User
from chalicelib.ports import AvatarStorage, StoredObject, UsersRepository
from chalicelib.validation import clean_email, clean_name

log = logging.getLogger(__name__)

PAGE_LIMIT_MAX = 1000


@dataclass(frozen=True)
class Page:
    """One answer of list_users: the users, and where the next page starts (None: the end).
    `limit` is the page size that was applied (None for the whole table)."""

    users: list[User]
    next_cursor: str | None = None
    limit: int | None = None


class UserService:
    def __init__(self, users: UsersRepository, avatars: AvatarStorage, settings: Settings) -> None:
        self._users = users
        self._avatars = avatars
        self._settings = settings

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

        key = avatar_keys.new_key(image.extension)
        user = User(name=clean.name, email=clean.email,
                    avatar_url=avatar_keys.url_for(self._settings, key))
        stored = self._avatars.put(key, image.data, image.content_type)
        try:
            self._users.add(user)
        except BaseException:
            # Never leave an object without its user, whatever stopped the write.
            self._discard(stored)
            raise
        return user

    def _discard(self, stored: StoredObject) -> None:
        try:
            self._avatars.delete(stored)
        except ApiError:
            # The orphan sweep removes it later; the original error is what the client needs.
            log.warning("could not delete orphan avatar", extra={"key": stored.key})

    def list_users(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """All users when neither limit nor cursor is given; otherwise one page, with the
        opaque cursor of the next one."""
        if limit is None and cursor is None:
            return Page(list(self._users.all()))
        if limit is None:
            limit = PAGE_LIMIT_MAX
        start = decode_cursor(cursor) if cursor else None
        users, last = self._users.page(limit, start)
        return Page(users, encode_cursor(last) if last else None, limit)


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
