"""users-api routes. Thin on purpose: parse the request, call the service, shape the response."""

from chalice import Chalice, Response

from chalicelib import swagger
from chalicelib.config import get_settings
from chalicelib.errors import InvalidField
from chalicelib.http import error_response, handles_api_errors, http_middleware, json_response
from chalicelib.multipart_form import parse_form
from chalicelib.observability import configure_logging, render_metrics
from chalicelib.service import PAGE_LIMIT_MAX
from chalicelib.wiring import get_service

settings = get_settings()
configure_logging(settings.log_level)

app = Chalice(app_name="users-api")
# Multipart uploads must reach the view byte-exact through API Gateway as well.
app.api.binary_types.extend(["multipart/form-data", *swagger.SWAGGER_BINARY_TYPES])
app.register_middleware(http_middleware, "http")


@app.route("/users", methods=["GET"])
@handles_api_errors
def list_users():
    request = app.current_request
    limit, cursor = _paging(request.query_params or {})
    users, next_cursor = get_service().list_users(limit, cursor)
    headers = {}
    if next_cursor:
        next_url = f"/users?limit={limit or PAGE_LIMIT_MAX}&cursor={next_cursor}"
        headers = {"X-Next-Cursor": next_cursor, "Link": f'<{next_url}>; rel="next"'}
    return json_response([user.to_dict() for user in users], headers=headers)


@app.route("/user", methods=["POST"], content_types=["multipart/form-data"])
@handles_api_errors
def create_user():
    request = app.current_request
    form = parse_form(request.headers.get("content-type"), request.raw_body,
                      max_file_bytes=settings.avatar_max_bytes)
    if "avatar" in form.fields:
        raise InvalidField("avatar", "must be sent as a file, not as a text field")
    avatar = form.files.get("avatar")
    user = get_service().register(
        name=form.fields.get("name"),
        email=form.fields.get("email"),
        avatar=avatar.data if avatar else None,
    )
    return json_response(user.to_dict(), status=201)


@app.route("/healthz", methods=["GET"])
def healthz():
    return json_response({"status": "ok"})


@app.route("/readyz", methods=["GET"])
@handles_api_errors
def readyz():
    readiness = get_service().readiness()
    if readiness.ready:
        return json_response({"status": "ready", "checks": readiness.checks})
    return json_response({"status": "unavailable", "checks": readiness.checks}, status=503,
                         headers={"Retry-After": str(int(settings.readiness_cache_seconds) or 1)})


@app.route("/metrics", methods=["GET"])
def metrics():
    body, content_type = render_metrics()
    return Response(body=body.decode("utf-8"), headers={"Content-Type": content_type})


@app.route("/openapi.json", methods=["GET"])
def openapi_json():
    return swagger.openapi_json()


@app.route("/openapi.yaml", methods=["GET"])
def openapi_yaml():
    return swagger.openapi_yaml()


@app.route("/swagger", methods=["GET"])
def swagger_ui():
    return swagger.swagger_page()


@app.route("/swagger/{asset}", methods=["GET"])
def swagger_asset(asset):
    return swagger.swagger_asset(asset) or error_response(404, "not_found", f"no such asset: {asset}")


def _paging(query) -> tuple[int | None, str | None]:
    raw_limit, cursor = query.get("limit"), query.get("cursor")
    limit = None
    if raw_limit is not None:
        # isascii(): str.isdigit() also accepts '²' and other scripts' digits.
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= PAGE_LIMIT_MAX:
            raise InvalidField("limit", f"must be an integer from 1 to {PAGE_LIMIT_MAX}")
        limit = int(raw_limit)
    if cursor is not None and not cursor:
        raise InvalidField("cursor", "must not be empty")
    return limit, cursor
