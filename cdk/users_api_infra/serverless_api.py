"""What API Gateway does in front of the Lambda function, as plain data (no aws_cdk import).

The serverless stack builds API Gateway from it, and the Lambda-event tests model API Gateway
with the same data, so the two cannot drift: which routes are public, which need a signed
request, which are not routed at all; which answers API Gateway gives itself, and in what shape.

The routes themselves are not written here: they come from the app object, through the
bundle's ``apigateway.json`` (api/devtools/lambda_bundle.py).
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "apigateway.json"

# -------------------------------------------------------------------------- routes on Lambda
PUBLIC = "public"
SIGNED = "signed"  # AWS_IAM authorization: a SigV4-signed request from a principal allowed
#                    execute-api:Invoke; anyone else gets the unknown-route answer.
NOT_ROUTED = "not-routed"  # no API Gateway resource: the unknown-route answer, from API Gateway

ROUTE_ACCESS: dict[str, str] = {
    # Not an app route (the serving command serves it on METRICS_PORT); were it one, it would
    # stay unrouted: nothing scrapes a function, the metrics go to CloudWatch as EMF (emf.py).
    "/metrics": NOT_ROUTED,
    # Checks DynamoDB and S3: for the operator (signed), not for anyone on the internet to make
    # the function call its backends. Nothing routes traffic by it on Lambda.
    "/readyz": SIGNED,
}


def access_of(path: str) -> str:
    return ROUTE_ACCESS.get(path, PUBLIC)


# -------------------------------------------------------------------------- binary media types
# With a Lambda proxy integration API Gateway turns the function's base64 body back into bytes
# only when the request's *first* Accept type matches a binary media type: browsers ask for an
# icon with "image/avif,...", curl with "*/*". Only "*/*" makes the Swagger UI's PNGs bytes for
# every client; it also makes every request body arrive base64-encoded, which Chalice decodes
# (and which the upload limit's arithmetic assumes: chalicelib/lambda_limits.py). The app's own
# binary types (multipart/form-data, image/png, ...) are listed as well, from the manifest.
CATCH_ALL_BINARY = "*/*"

# -------------------------------------------------------------------------- timeouts, throttling
# API Gateway's integration timeout (its default and, without a quota increase, its maximum).
INTEGRATION_TIMEOUT_SECONDS = 29
# The function's: above the request's whole backend budget -- every DynamoDB and S3 call of one
# request, retries included, ends within its deadline (BACKEND_DEADLINE_SECONDS, at most 8 s,
# plus up to 2 s of connect and back-off: chalicelib/adapters/deadline.py) -- and the image
# work, so the app answers a slow backend with its JSON 503 before Lambda stops it; below the
# integration timeout, so a stopped function is answered (502) before API Gateway gives up
# (504), and no invocation runs on after its client is gone. Without that deadline one call
# alone could take 4 attempts x (2 s connect + 5 s read) + 7 s of back-off = 35 s.
FUNCTION_TIMEOUT_SECONDS = 26


# -------------------------------------------------------------------------- gateway responses
@dataclass(frozen=True)
class GatewayAnswer:
    """One API Gateway gateway response, in the API's error shape."""

    response_type: str  # API Gateway's ResponseType
    status: int | None  # None: keep API Gateway's own status (the DEFAULT_* families)
    code: str
    message: str | None  # None: API Gateway's own message ($context.error.messageString)
    headers: tuple[tuple[str, str], ...] = ()


GATEWAY_ANSWERS: tuple[GatewayAnswer, ...] = (
    # An unknown path, an unrouted one (/metrics), or an unsigned request to a signed route:
    # API Gateway's "403 Missing Authentication Token" becomes the API's 404.
    GatewayAnswer("MISSING_AUTHENTICATION_TOKEN", 404, "not_found", "no such route"),
    GatewayAnswer("ACCESS_DENIED", 403, "forbidden", "this caller may not use this route"),
    GatewayAnswer("REQUEST_TOO_LARGE", 413, "payload_too_large",
                  "the request is over API Gateway's 10 MB limit"),
    GatewayAnswer("THROTTLED", 429, "too_many_requests", "too many requests, try again later",
                  (("Retry-After", "1"),)),
    GatewayAnswer("INTEGRATION_TIMEOUT", 504, "gateway_timeout",
                  "the service did not answer in time, try again later"),
    GatewayAnswer("DEFAULT_4XX", None, "invalid_request", None),
    GatewayAnswer("DEFAULT_5XX", None, "internal_error", "an internal error occurred"),
)

# On every answer, as on the app's own (chalicelib/responses.py API_HEADERS).
GATEWAY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)
# A gateway response's headers can be static or copied from the request, not from $context, so
# API Gateway's own answers carry no X-Request-ID: their request_id (in the body) is the one API
# Gateway sends on every answer as x-amzn-RequestId, and the one in its access log.
GATEWAY_REQUEST_ID_HEADER = "x-amzn-RequestId"


def gateway_template(answer: GatewayAnswer) -> str:
    """The application/json body template (API Gateway substitutes the $context values)."""
    message = "$context.error.messageString" if answer.message is None else f'"{answer.message}"'
    return ('{"error": {"code": "' + answer.code + '", "message": ' + message
            + ', "request_id": "$context.requestId"}}')


def gateway_headers(answer: GatewayAnswer) -> dict[str, str]:
    """Header name -> static value, quoted as API Gateway's response parameters want."""
    return {name: f"'{value}'" for name, value in (*GATEWAY_HEADERS, *answer.headers)}


# -------------------------------------------------------------------------- access log
# API Gateway's access log line, JSON with the keys of the app's own access log (request_id,
# method, route, status, duration_ms) plus what only API Gateway knows. No IP or user agent: as
# in the app's log, nothing personal. Numbers unquoted so Logs Insights sees numbers.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "request_id": "$context.requestId",
    "time": "$context.requestTime",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "duration_ms": "$context.responseLatency",
    "integration_ms": "$context.integrationLatency",
    "integration_status": "$context.integration.status",
    "function_request_id": "$context.integration.requestId",
    "error": "$context.error.responseType",
    "response_bytes": "$context.responseLength",
}
# Always numbers; integrationLatency is "-" on API Gateway's own answers, so it stays quoted.
NUMERIC_ACCESS_LOG_KEYS = frozenset({"status", "duration_ms"})


def access_log_format() -> str:
    fields = [f'"{key}":{value}' if key in NUMERIC_ACCESS_LOG_KEYS else f'"{key}":"{value}"'
              for key, value in ACCESS_LOG_FORMAT.items()]
    return "{" + ",".join(fields) + "}"
