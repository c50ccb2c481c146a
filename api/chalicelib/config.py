"""Runtime settings, read from the environment once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.errors import ConfigurationError
from chalicelib.lambda_limits import LAMBDA_AVATAR_MAX_BYTES

MIB = 1024 * 1024
# A request waits on its backend for at most this long (the documented bound; the SDK's
# connect timeout and back-off can add up to 2 s to the deadline).
MAX_BACKEND_DEADLINE_SECONDS = 8.0


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    users_table: str = "users"
    avatars_bucket: str = "users-api-avatars"
    # A CDN or an emulator in front of the bucket; chalicelib/avatar_keys.py builds the URLs.
    avatar_base_url: str | None = None
    # Set by the Lambda runtime: the app runs behind API Gateway (cdk/README.md, "Serverless
    # target"). Changes two defaults: AVATAR_MAX_BYTES (lambda_limits.py) and metrics (EMF).
    lambda_function_name: str | None = None
    avatar_max_bytes: int = 5 * MIB
    avatar_max_pixels: int = 25_000_000
    avatar_max_frames: int = 200
    avatar_decode_concurrency: int = 1
    log_level: str = "INFO"
    readiness_cache_seconds: float = 5.0
    # Every DynamoDB and S3 call of one request, retries included, ends within this, counted
    # from its first call (chalicelib/adapters/deadline.py); at most MAX_BACKEND_DEADLINE_SECONDS.
    backend_deadline_seconds: float = 8.0

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


# Every variable settings_from_env reads (AWS_REGION falls back to the SDK's AWS_DEFAULT_REGION);
# a unit test keeps this list equal to the reads.
VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "USERS_TABLE", "AVATARS_BUCKET",
             "AVATAR_BASE_URL", "AVATAR_MAX_BYTES", "AVATAR_MAX_PIXELS", "AVATAR_MAX_FRAMES",
             "AVATAR_DECODE_CONCURRENCY", "LOG_LEVEL",
             "READINESS_CACHE_SECONDS", "BACKEND_DEADLINE_SECONDS")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    readiness_cache_seconds = _seconds(env, "READINESS_CACHE_SECONDS",
                                       Settings.readiness_cache_seconds)
    deadline = _seconds(env, "BACKEND_DEADLINE_SECONDS", Settings.backend_deadline_seconds)
    if not 0 < deadline <= MAX_BACKEND_DEADLINE_SECONDS:
        raise ConfigurationError("BACKEND_DEADLINE_SECONDS must be more than 0 and at most "
                                 f"{MAX_BACKEND_DEADLINE_SECONDS:g}, got {deadline:g}")
    return Settings(
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or Settings.region,
        users_table=env.get("USERS_TABLE") or Settings.users_table,
        avatars_bucket=env.get("AVATARS_BUCKET") or Settings.avatars_bucket,
        avatar_base_url=env.get("AVATAR_BASE_URL") or None,
        lambda_function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        avatar_max_bytes=_positive_int(env, "AVATAR_MAX_BYTES", LAMBDA_AVATAR_MAX_BYTES
                                       if env.get("AWS_LAMBDA_FUNCTION_NAME")
                                       else Settings.avatar_max_bytes),
        avatar_max_pixels=_positive_int(env, "AVATAR_MAX_PIXELS", Settings.avatar_max_pixels),
        avatar_max_frames=_positive_int(env, "AVATAR_MAX_FRAMES", Settings.avatar_max_frames),
        avatar_decode_concurrency=_positive_int(
            env, "AVATAR_DECODE_CONCURRENCY", Settings.avatar_decode_concurrency),
        log_level=(env.get("LOG_LEVEL") or Settings.log_level).upper(),
        readiness_cache_seconds=readiness_cache_seconds,
        backend_deadline_seconds=deadline,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
