"""The errors the API can answer with. Each maps to one HTTP status and one stable code."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The process environment is invalid; raised at start-up, never per request."""


class ApiError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"


class InvalidField(ApiError):
    status, code = 400, "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class EmailAlreadyExists(ApiError):
    status, code = 409, "email_exists"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class BackendUnavailable(ApiError):
    """DynamoDB or S3 failed after the SDK's retries; the client may try again later."""

    status, code = 503, "service_unavailable"
    retry_after_seconds = 5

    @property
    def headers(self) -> dict[str, str]:  # type: ignore[override]
        return {"Retry-After": str(self.retry_after_seconds)}
