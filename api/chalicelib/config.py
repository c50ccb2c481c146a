"""Runtime settings, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.errors import ConfigurationError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    users_table: str = "users"
    avatars_bucket: str = "users-api-avatars"
    # None means "the real AWS endpoints"; boto3 reads AWS_ENDPOINT_URL itself,
    # it is kept here only so the emulator case can be logged and documented.
    endpoint_url: str | None = None
    avatar_base_url: str | None = None
    avatar_max_bytes: int = 5 * MIB
    avatar_max_pixels: int = 25_000_000
    avatar_max_frames: int = 200
    avatar_decode_concurrency: int = 1
    log_level: str = "INFO"
    readiness_cache_seconds: float = 5.0

    @property
    def public_avatar_base(self) -> str:
        if self.avatar_base_url:
            return self.avatar_base_url.rstrip("/")
        return f"https://{self.avatars_bucket}.s3.{self.region}.amazonaws.com"

    @property
    def max_request_bytes(self) -> int:
        # The avatar plus generous room for the text fields and multipart framing.
        return self.avatar_max_bytes + 64 * 1024


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    cache = env.get("READINESS_CACHE_SECONDS", "")
    try:
        readiness_cache_seconds = float(cache) if cache else Settings.readiness_cache_seconds
    except ValueError:
        raise ConfigurationError(f"READINESS_CACHE_SECONDS must be a number, got {cache!r}") from None
    return Settings(
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or Settings.region,
        users_table=env.get("USERS_TABLE") or Settings.users_table,
        avatars_bucket=env.get("AVATARS_BUCKET") or Settings.avatars_bucket,
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        avatar_base_url=env.get("AVATAR_BASE_URL") or None,
        avatar_max_bytes=_positive_int(env, "AVATAR_MAX_BYTES", Settings.avatar_max_bytes),
        avatar_max_pixels=_positive_int(env, "AVATAR_MAX_PIXELS", Settings.avatar_max_pixels),
        avatar_max_frames=_positive_int(env, "AVATAR_MAX_FRAMES", Settings.avatar_max_frames),
        avatar_decode_concurrency=_positive_int(
            env, "AVATAR_DECODE_CONCURRENCY", Settings.avatar_decode_concurrency),
        log_level=(env.get("LOG_LEVEL") or Settings.log_level).upper(),
        readiness_cache_seconds=readiness_cache_seconds,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
