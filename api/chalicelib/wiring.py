"""The composition root: builds the service and its adapters once per process."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters.avatar_store import AvatarStore
from chalicelib.adapters.aws import make_clients
from chalicelib.adapters.users_table import UsersTable
from chalicelib.config import Settings, get_settings
from chalicelib.service import UserService


def build_service(settings: Settings) -> UserService:
    dynamodb, s3 = make_clients(settings)
    return UserService(
        UsersTable(dynamodb, settings.users_table),
        AvatarStore(s3, settings.avatars_bucket),
        settings,
    )


@lru_cache(maxsize=1)
def get_service() -> UserService:
    # Lazy, so each gunicorn worker makes its own clients after the fork.
    return build_service(get_settings())
