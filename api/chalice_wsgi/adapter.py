"""Serve any Chalice app over WSGI (gunicorn, waitress, ...), the way `chalice local` does.

Chalice only knows API Gateway events. This adapter turns a WSGI request into such an
event, lets Chalice's own local gateway route it (path parameters, CORS preflight,
authorizers), and turns the Lambda-proxy response back into WSGI. It is general: nothing
here knows about users-api.

HEAD on a route that has GET but no HEAD view is answered by the GET view, without the body
(RFC 9110 9.3.2). Answers the local gateway gives without running a view (the automatic
OPTIONS / CORS preflight answer) pass through `on_gateway_answer`, so an app can give them
the headers, metrics and log lines its middleware gives every other answer.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import quote, unquote

from chalice import Chalice
from chalice.config import Config
from chalice.local import (
    LambdaEventConverter,
    LocalGateway,
    LocalGatewayException,
    MatchResult,
    RouteMatcher,
)

# (method, lower-cased request headers, status, message) -> (status, headers, body)
RejectHook = Callable[[str, dict[str, str], int, str], tuple[int, dict[str, str], bytes]]
# (method, lower-cased request headers, route template, status, response headers) -> headers
GatewayAnswerHook = Callable[[str, dict[str, str], str, int, dict[str, str]], dict[str, str]]
_READ_CHUNK = 64 * 1024
# An error message quotes at most this much of the request's path.
_PATH_QUOTE_CHARS = 100


class _PerThreadRequestState:
    """Chalice keeps the current request in a plain attribute, which threads would share;
    this keeps it per thread, as chalice.local.LocalChalice does."""

    @property
    def current_request(self):
        return getattr(self._request_state, "current_request", None)

    @current_request.setter
    def current_request(self, value) -> None:
        self._request_state.current_request = value

    @property
    def lambda_context(self):
        return getattr(self._request_state, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value) -> None:
        self._request_state.lambda_context = value


class _DecodingRouteMatcher(RouteMatcher):
    """Matches the percent-encoded path, so an encoded '?', '#' or ';' stays part of its
    segment, then hands path parameters to the view decoded, once."""

    def match_route(self, url: str) -> MatchResult:
        match = super().match_route(url)
        captured = {name: unquote(value) for name, value in match.captured.items()}
        return MatchResult(match.route, captured, match.query_params)


def _chalice_style_reject(method: str, headers: dict[str, str], status: int, message: str
                          ) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Code": HTTPStatus(status).phrase.replace(" ", ""), "Message": message})
    return status, {"Content-Type": "application/json"}, body.encode()


class ChaliceWSGIAdapter:
    def __init__(self, app: Chalice, *, max_body_bytes: int | None = None,
                 on_reject: RejectHook | None = None,
                 on_gateway_answer: GatewayAnswerHook | None = None) -> None:
        if not isinstance(app, _PerThreadRequestState):
            app._request_state = threading.local()
            app.__class__ = type(f"PerThread{type(app).__name__}",
                                 (_PerThreadRequestState, type(app)), {})
        self.app = app
        self._routes = _DecodingRouteMatcher(list(app.routes))
        self._gateway = LocalGateway(app, Config.create(app_name=app.app_name))
        self._gateway.event_converter = LambdaEventConverter(self._routes, app.api.binary_types)
        self._max_body_bytes = max_body_bytes
        self._reject = on_reject or _chalice_style_reject
        self._on_gateway_answer = on_gateway_answer

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        headers = _request_headers(environ)
        # PEP 3333 hands the path over as latin-1-decoded bytes; recover the real text.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        # Chalice parses the query (and drops fragments and ';' parameters) out of the
        # path it is given, so those characters must reach it still escaped.
        url = quote(path, safe="/:@!$&'()*+,=~") or "/"
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
        try:
            body = self._read_body(environ)
        except _Rejected as rejected:
            return self._send(start_response,
                              *self._reject(method, headers, rejected.status, rejected.message))
        route = self._route_of(url)
        views = self.app.routes.get(route, {}) if route else {}
        head_as_get = method == "HEAD" and "HEAD" not in views and "GET" in views
        try:
            response = self._gateway.handle_request(
                "GET" if head_as_get else method, url, headers, body)
        except LocalGatewayException as error:
            if route is None:
                shown = path if len(path) <= _PATH_QUOTE_CHARS else path[:_PATH_QUOTE_CHARS] + "..."
                return self._send(start_response, *self._reject(
                    method, headers, 404, f"no route for {method[:20]} {shown}"))
            return self._send(start_response, error.CODE, dict(error.headers), error.body or b"")
        status, pairs, payload = _unpack(response)
        if method == "OPTIONS" and "OPTIONS" not in views and self._on_gateway_answer:
            pairs = list(self._on_gateway_answer(method, headers, route, status, dict(pairs)).items())
        return self._send(start_response, status, pairs, payload, head=head_as_get)

    def _route_of(self, url: str) -> str | None:
        try:
            return self._routes.match_route(url).route
        except ValueError:
            return None

    def _read_body(self, environ: dict) -> bytes | None:
        stream = environ["wsgi.input"]
        raw_length = environ.get("CONTENT_LENGTH") or ""
        limit = self._max_body_bytes
        if raw_length:
            try:
                length = int(raw_length)
            except ValueError:
                raise _Rejected(400, "Content-Length is not a number") from None
            if length < 0:
                raise _Rejected(400, "Content-Length is negative")
            # Refuse before reading anything: an oversized body is never buffered.
            if limit is not None and length > limit:
                raise _Rejected(413, f"the request body exceeds {limit} bytes")
            return stream.read(length) if length else None
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        chunks, size = [], 0
        while chunk := stream.read(_READ_CHUNK):
            size += len(chunk)
            if limit is not None and size > limit:
                raise _Rejected(413, f"the request body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks) or None

    @staticmethod
    def _send(start_response, status: int, headers, body: bytes, head: bool = False
              ) -> list[bytes]:
        pairs = headers if isinstance(headers, list) else list(headers.items())
        pairs = [(k, v) for k, v in pairs if k.lower() != "content-length"]
        if body and not any(k.lower() == "content-type" for k, _ in pairs):
            # API Gateway's default, which chalice local mimics.
            pairs.append(("Content-Type", "application/json"))
        if status >= 200 and status not in (204, 304):
            pairs.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_reason(status)}", pairs)
        # HEAD: the headers GET would send, Content-Length included, and no body.
        return [b""] if head else [body]


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _request_headers(environ: dict) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value
               for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _unpack(response: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda-proxy response -> (status, header pairs, body bytes), multi-value headers kept."""
    pairs = [(name, str(value)) for name, value in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        pairs.extend((name, str(value)) for value in values)
    body = response.get("body") or b""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return int(response["statusCode"]), pairs, body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
