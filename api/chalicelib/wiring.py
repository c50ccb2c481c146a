"""The composition root: builds the service, the readiness probe and the sweep once per process,
on the adapters. The only module that names both the ports' users and their implementations."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters.avatar_store import AvatarStore
from chalicelib.adapters.aws import PROBE_CONFIG, make_clients
from chalicelib.adapters.users_table import UsersTable
from chalicelib.config import Settings, get_settings
from chalicelib.readiness import ReadinessProbe
from chalicelib.service import UserService
from chalicelib.sweep import OrphanSweep


def _storage(settings: Settings, config=None) -> tuple[UsersTable, AvatarStore]:
    dynamodb, s3 = make_clients(settings) if config is None else make_clients(settings, config)
    return UsersTable(dynamodb, settings.users_table), AvatarStore(s3, settings.avatars_bucket)


def build_service(settings: Settings) -> UserService:
    return UserService(*_storage(settings), settings)


def build_readiness(settings: Settings) -> ReadinessProbe:
    # Clients of their own, with the probe's short timeouts and no retries.
    users, avatars = _storage(settings, PROBE_CONFIG)
    return ReadinessProbe({"dynamodb": users.ping, "s3": avatars.ping},
                          settings.readiness_cache_seconds)


def build_sweep(settings: Settings) -> OrphanSweep:
    return OrphanSweep(*_storage(settings))


# Lazy: made on first use (wsgi.py asks at start), once per process.
@lru_cache(maxsize=1)
def get_service() -> UserService:
    return build_service(get_settings())


@lru_cache(maxsize=1)
def get_readiness() -> ReadinessProbe:
    return build_readiness(get_settings())
