"""The orphan sweep: avatar objects that no user references, left by a write that died halfway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib import avatar_keys
from chalicelib.ports import AvatarStorage, UsersRepository

DEFAULT_GRACE = timedelta(minutes=60)


@dataclass(frozen=True)
class SweepReport:
    scanned: int
    referenced: int
    orphans: list[str]
    deleted: list[str]


class OrphanSweep:
    def __init__(self, users: UsersRepository, avatars: AvatarStorage) -> None:
        self._users = users
        self._avatars = avatars

    def run(self, grace: timedelta, apply: bool, now: datetime | None = None) -> SweepReport:
        """Find avatar objects that no user references and that are older than `grace`.

        The grace period protects uploads whose user item is being written right now.
        Objects are listed before users are read, so a user created during the sweep
        can only make an object look referenced, never orphaned.
        """
        now = now or datetime.now(UTC)
        candidates = [obj for obj in self._avatars.list() if now - obj.last_modified > grace]
        referenced = {avatar_keys.key_of(user.avatar_url) for user in self._users.all()}
        orphans = sorted(obj.key for obj in candidates if obj.key not in referenced)
        deleted: list[str] = []
        if apply:
            for key in orphans:
                self._avatars.delete_key(key)
                deleted.append(key)
        return SweepReport(scanned=len(candidates), referenced=len(referenced),
                           orphans=orphans, deleted=deleted)
