"""boto3 clients, made once per process, and the translation of SDK failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from chalicelib.adapters.deadline import DeadlineExceeded, bound_by_deadline
from chalicelib.config import Settings
from chalicelib.errors import BackendMisconfigured, BackendUnavailable
from chalicelib.observability import BACKEND_ERRORS

log = logging.getLogger(__name__)

# Short timeouts with the SDK's standard retry mode, and the request's deadline over all of
# it (deadline.py): a slow dependency becomes a quick 503 instead of a pile of stuck threads.
CLIENT_CONFIG = Config(
    connect_timeout=1,
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
    return (bound_by_deadline(session.client("dynamodb", config=config)),
            bound_by_deadline(session.client("s3", config=config)))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# What each backend's resource is called in an answer: its kind only, never its name.
RESOURCE_KINDS = {"dynamodb": "the users table", "s3": "the avatars bucket"}
_MISSING = {"ResourceNotFoundException", "NoSuchBucket"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
           "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch",
           "ExpiredToken", "ExpiredTokenException"}
_TIMEOUTS = (DeadlineExceeded, ReadTimeoutError, ConnectTimeoutError)


def _misconfiguration(backend: str, error: Exception) -> str | None:
    """What is wrong, in words a client may see, when retrying cannot help; else None."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no usable AWS credentials are configured for the service"
    code = error_code(error) if isinstance(error, ClientError) else ""
    if code in _MISSING:
        return f"{RESOURCE_KINDS[backend]} does not exist"
    if code in _DENIED:
        return f"the service is not allowed to use {RESOURCE_KINDS[backend]}"
    return None


_reported: set[tuple[str, str, str]] = set()
_reported_lock = threading.Lock()


def _report_once(backend: str, resource: str, operation: str, error: Exception,
                 problem: str) -> None:
    """An error line with the full resource name, once per cause and process, not per request."""
    cause = (backend, resource, error_code(error) if isinstance(error, ClientError)
             else type(error).__name__)
    with _reported_lock:
        if cause in _reported:
            return
        _reported.add(cause)
    log.error("backend misconfigured: %s", problem, extra={
        "backend": backend, "resource": resource, "operation": operation, "cause": cause[2]})


@contextmanager
def backend_call(backend: str, operation: str, resource: str) -> Iterator[None]:
    """Count and translate an SDK failure; AWS's own message never reaches the client.
    `resource` is the table or bucket name, for the log only."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        problem = _misconfiguration(backend, error)
        if problem is not None:
            BACKEND_ERRORS.labels(backend=backend, operation=operation, kind="misconfigured").inc()
            _report_once(backend, resource, operation, error, problem)
            raise BackendMisconfigured(problem) from error
        if isinstance(error, _TIMEOUTS):
            BACKEND_ERRORS.labels(backend=backend, operation=operation, kind="timeout").inc()
            raise BackendUnavailable(f"{backend} did not answer in time, try again later",
                                     kind="timeout") from error
        BACKEND_ERRORS.labels(backend=backend, operation=operation, kind="unavailable").inc()
        raise BackendUnavailable(f"{backend} is unavailable, try again later") from error
