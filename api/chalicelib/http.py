"""HTTP glue for the routes: JSON responses, the one error shape, and the request middleware."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from http import HTTPStatus

from chalice import Response

from chalicelib.errors import ApiError
from chalicelib.observability import REQUEST_ID_HEADER, observe, request_id_from

log = logging.getLogger(__name__)

JSON = "application/json"
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
# The error code for a status when nothing more specific is known.
_STATUS_CODES = {
    400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 415: "unsupported_media_type", 500: "internal_error",
}
# Chalice's own error codes (ChaliceViewError class names and a few literals) -> ours.
_CHALICE_CODES = {
    "BadRequestError": "invalid_request", "BadRequest": "invalid_request",
    "NotFoundError": "not_found", "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "InternalServerError": "internal_error",
}


def json_response(body, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    # request_id is filled in by the middleware, which owns it.
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def handles_api_errors(view):
    """Map the service's errors to responses; anything unexpected becomes a bare 500."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return error_response(error.status, error.code, error.message, dict(error.headers))
        except Exception:
            log.exception("unhandled error in %s", view.__name__)
            return error_response(500, "internal_error", "an internal error occurred")
    return wrapper


def http_middleware(request, get_response):
    """Chalice 'http' middleware: request id, security headers, one error shape, metrics, log."""
    started = time.perf_counter()
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    response = get_response(request)
    _normalize_error(response)
    if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
        response.body["error"]["request_id"] = request_id
    for name, value in API_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers[REQUEST_ID_HEADER] = request_id
    route = request.context.get("resourcePath", "unmatched")
    observe(route, request.method, response.status_code, started, request_id)
    return response


def _normalize_error(response: Response) -> None:
    """Convert Chalice's {"Code","Message"} error bodies to the API's error shape."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return
    code = _CHALICE_CODES.get(body["Code"]) or _code_for_status(response.status_code)
    message = str(body.get("Message", ""))
    if response.status_code >= 500:
        message = "an internal error occurred"
    response.body = {"error": {"code": code, "message": message}}
    response.headers["Content-Type"] = JSON


def _code_for_status(status: int) -> str:
    return _STATUS_CODES.get(status) or re.sub(
        r"[^a-z0-9]+", "_", HTTPStatus(status).phrase.lower()).strip("_")


def rejected_before_routing(method: str, headers: dict[str, str], status: int, message: str
                            ) -> tuple[int, dict[str, str], bytes]:
    """The WSGI adapter's answer for requests that never reach a route (unknown path,
    oversized body): the same error shape, headers, metrics and log line as the rest."""
    started = time.perf_counter()
    request_id = request_id_from(headers.get(REQUEST_ID_HEADER.lower()))
    body = {"error": {"code": _code_for_status(status), "message": message,
                      "request_id": request_id}}
    observe("unmatched", method, status, started, request_id)
    response_headers = {"Content-Type": JSON, REQUEST_ID_HEADER: request_id, **API_HEADERS}
    return status, response_headers, json.dumps(body).encode()
