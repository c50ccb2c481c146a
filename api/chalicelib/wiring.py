"""The composition root: builds the service and its adapters once per process."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters.avatar_store import AvatarStore
from chalicelib.adapters.aws import PROBE_CONFIG, make_clients
from chalicelib.adapters.users_table import UsersTable
from chalicelib.config import Settings, get_settings
from chalicelib.service import UserService


def build_service(settings: Settings) -> UserService:
    dynamodb, s3 = make_clients(settings)
    probe_dynamodb, probe_s3 = make_clients(settings, PROBE_CONFIG)
    return UserService(
        UsersTable(dynamodb, settings.users_table),
        AvatarStore(s3, settings.avatars_bucket),
        settings,
        health_checks={
            "dynamodb": UsersTable(probe_dynamodb, settings.users_table).ping,
            "s3": AvatarStore(probe_s3, settings.avatars_bucket).ping,
        },
    )


@lru_cache(maxsize=1)
def get_service() -> UserService:
    # Lazy, so each gunicorn worker makes its own clients after the fork.
    return build_service(get_settings())
