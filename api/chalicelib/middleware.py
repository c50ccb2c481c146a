"""Chalice's 'http' middleware, for every route and entry point: process set-up, the one error
handler, request ids, security headers, metrics and the access log. Also the same answer for
requests the WSGI adapter refuses before any route runs."""

from __future__ import annotations

import json
import time

from chalicelib.adapters.deadline import backend_deadline
from chalicelib.errors import ApiError, code_for_status
from chalicelib.observability import IN_FLIGHT, REQUEST_ID_HEADER, observe, request_id_from
from chalicelib.request import listing
from chalicelib.responses import API_HEADERS, JSON, error_body, error_response, normalize_chalice_error
from chalicelib.startup import set_up


def http_middleware(request, get_response):
    settings = set_up()
    started = time.perf_counter()
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER),
                                 request.context.get("requestId"))
    with IN_FLIGHT.track_inprogress():
        try:
            # Every DynamoDB and S3 call this request makes ends within one deadline.
            with backend_deadline(settings.backend_deadline_seconds):
                response = get_response(request)
        except ApiError as error:
            response = error_response(error)
    normalize_chalice_error(response)
    if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
        response.body["error"]["request_id"] = request_id
    for name, value in API_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers[REQUEST_ID_HEADER] = request_id
    route = request.context.get("resourcePath", "unmatched")
    observe(route, request.method, response.status_code, started, request_id,
            listing(request) if route == "/users" and request.method == "GET" else "")
    return response


def rejected_before_routing(method: str, headers: dict[str, str], status: int, message: str
                            ) -> tuple[int, dict[str, str], bytes]:
    """The WSGI adapter's answer for requests that never reach a route (unknown path,
    oversized body): the same error shape, headers, metrics and log line as the rest."""
    set_up()
    started = time.perf_counter()
    request_id = request_id_from(headers.get(REQUEST_ID_HEADER.lower()))
    body = error_body(code_for_status(status), message, request_id)
    observe("unmatched", method, status, started, request_id)
    response_headers = {"Content-Type": JSON, REQUEST_ID_HEADER: request_id, **API_HEADERS}
    return status, response_headers, json.dumps(body).encode()


def answered_by_gateway(method: str, headers: dict[str, str], route: str, status: int,
                        response_headers: dict[str, str]) -> dict[str, str]:
    """Answers the WSGI adapter's gateway gives without running a view (OPTIONS and CORS
    preflight): the request id, the security headers, a metric and an access line, as always."""
    set_up()
    started = time.perf_counter()
    request_id = request_id_from(headers.get(REQUEST_ID_HEADER.lower()))
    observe(route, method, status, started, request_id)
    return {**API_HEADERS, **response_headers, REQUEST_ID_HEADER: request_id}
