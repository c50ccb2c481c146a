"""The errors the API can answer with. Each maps to one HTTP status and one stable code.

ApiError is a chalice.ChaliceUnhandledError: Chalice's documented way to let an error out of
a view, so the one handler in chalicelib/middleware.py sees it for every route and every
entry point (the WSGI adapter, `chalice local`, Lambda). Nothing else here knows Chalice.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import ClassVar

from chalice import ChaliceUnhandledError


class ConfigurationError(RuntimeError):
    """The process environment is invalid; raised at start-up, never per request."""


class ApiError(ChaliceUnhandledError):
    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}
    # status -> the code of an error known only by its status (for example Chalice's own 405),
    # filled by the classes below that declare `default_for_status=True`.
    _codes_by_status: ClassVar[dict[int, str]] = {status: code}

    def __init_subclass__(cls, default_for_status: bool = False, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if default_for_status:
            ApiError._codes_by_status[cls.status] = cls.code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def code_for_status(status: int) -> str:
    """The stable code of a status: a class's own, else the status phrase in snake case."""
    return ApiError._codes_by_status.get(status) or re.sub(
        r"[^a-z0-9]+", "_", HTTPStatus(status).phrase.lower()).strip("_")


class InvalidRequest(ApiError, default_for_status=True):
    status, code = 400, "invalid_request"


class InvalidField(ApiError):
    status, code = 400, "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(ApiError, default_for_status=True):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError, default_for_status=True):
    status, code = 405, "method_not_allowed"


class EmailAlreadyExists(ApiError):
    status, code = 409, "email_exists"


class PayloadTooLarge(ApiError, default_for_status=True):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError, default_for_status=True):
    status, code = 415, "unsupported_media_type"


class BackendUnavailable(ApiError):
    """DynamoDB or S3 failed, or did not answer within the request's deadline: transient, so
    the client may try again later. `kind` is "unavailable" or "timeout"."""

    status, code = 503, "service_unavailable"
    retry_after_seconds = 5

    def __init__(self, message: str, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def headers(self) -> dict[str, str]:  # type: ignore[override]
        return {"Retry-After": str(self.retry_after_seconds)}


class BackendMisconfigured(ApiError):
    """The table or bucket does not exist, or there are no usable credentials: trying again
    will not help until someone fixes the configuration, so there is no Retry-After."""

    status, code = 503, "backend_misconfigured"
    kind = "misconfigured"
