"""The service's two storage ports, written down: what it needs from the users table and the
avatar store, and the plain values that cross them.

The adapters in chalicelib/adapters/ implement these for DynamoDB and S3; the unit tests'
in-memory fakes implement them too. The service imports this module, never an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from chalicelib.model import User


@dataclass(frozen=True)
class StoredObject:
    """What put() wrote, so exactly that can be removed again."""

    key: str
    # None where the bucket is not versioned (the emulator may not be).
    version_id: str | None


@dataclass(frozen=True)
class ListedObject:
    key: str
    last_modified: datetime


@runtime_checkable
class UsersRepository(Protocol):
    def add(self, user: User) -> None:
        """Insert a new user; raise EmailAlreadyExists if the email is taken."""

    def page(self, limit: int, start_email: str | None) -> tuple[list[User], str | None]:
        """Up to `limit` users after `start_email`, and the email to continue from (None at
        the end)."""

    def all(self) -> Iterable[User]:
        """Every user."""

    def ping(self) -> None:
        """Raise BackendUnavailable unless the table answers."""


@runtime_checkable
class AvatarStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        """Store the bytes under `key`."""

    def delete(self, stored: StoredObject) -> None:
        """Remove exactly what put() created."""

    def delete_key(self, key: str) -> None:
        """Remove the object under `key`."""

    def list(self) -> Iterable[ListedObject]:
        """Every avatar object."""

    def ping(self) -> None:
        """Raise BackendUnavailable unless the bucket answers."""
