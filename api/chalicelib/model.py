"""The domain model: a user as the API and the table know it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class User:
    name: str
    email: str
    avatar_url: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
