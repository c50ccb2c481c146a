"""boto3 clients, made once per process, and the translation of SDK failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import BackendUnavailable
from chalicelib.observability import BACKEND_ERRORS

# Short timeouts with the SDK's standard retry mode: a slow dependency becomes a
# quick 503 instead of a pile of stuck gunicorn threads.
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
)


# Readiness probes answer a question about now: one quick attempt, no retries, so a hung
# dependency cannot hold a probe (and a server thread) for the full retry budget.
PROBE_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 1},
    max_pool_connections=2,
)


def make_clients(settings: Settings, config: Config = CLIENT_CONFIG):
    """Return (dynamodb, s3) clients. Credentials come from the default chain only."""
    session = boto3.session.Session(region_name=settings.region)
    # Leaving endpoint_url unset lets boto3 honour AWS_ENDPOINT_URL itself.
    return session.client("dynamodb", config=config), session.client("s3", config=config)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def backend_call(backend: str, operation: str) -> Iterator[None]:
    """Count and translate an SDK failure; AWS's own message never reaches the client."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        BACKEND_ERRORS.labels(backend=backend, operation=operation).inc()
        raise BackendUnavailable(f"{backend} is unavailable, try again later") from error
