"""Response helpers for the routes and the one error shape: {"error": {code, message, request_id}}."""

from __future__ import annotations

from chalice import Response

from chalicelib.errors import ApiError, code_for_status

JSON = "application/json"
# On every answer, routed or not.
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
INTERNAL_ERROR_MESSAGE = "an internal error occurred"


def json_response(body, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def error_body(code: str, message: str, request_id: str | None = None) -> dict:
    """The one place an error body is built."""
    error = {"code": code, "message": message}
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def error_response(error: ApiError) -> Response:
    # request_id is added by the middleware, which owns it.
    return json_response(error_body(error.code, error.message), error.status, dict(error.headers))


def normalize_chalice_error(response: Response) -> None:
    """Rewrite Chalice's own {"Code","Message"} error bodies (unknown method, wrong content
    type, an unhandled exception) in the API's error shape; the code comes from the status."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return
    message = str(body.get("Message", ""))
    if response.status_code >= 500:
        message = INTERNAL_ERROR_MESSAGE
    response.body = error_body(code_for_status(response.status_code), message)
    response.headers["Content-Type"] = JSON
