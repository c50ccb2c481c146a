"""users-api routes, and nothing else: read the request, call the service, shape the response.

Errors, request ids, headers, metrics and process set-up are in the middleware
(chalicelib/middleware.py), so every route and every entry point shares them. /metrics is not
a route: the serving command (serve.py) serves it on its own port.
"""

from chalice import Chalice

from chalicelib import request as read
from chalicelib import swagger
from chalicelib.errors import NotFound
from chalicelib.middleware import http_middleware
from chalicelib.responses import json_response
from chalicelib.wiring import get_readiness, get_service

app = Chalice(app_name="users-api")
# Multipart uploads must reach the view byte-exact through API Gateway as well.
app.api.binary_types.extend(["multipart/form-data", *swagger.SWAGGER_BINARY_TYPES])
app.register_middleware(http_middleware, "http")


@app.route("/users", methods=["GET"])
def list_users():
    paging = read.paging(app.current_request)
    page = get_service().list_users(paging.limit, paging.cursor)
    headers = {}
    if page.next_cursor:
        next_url = f"/users?limit={page.limit}&cursor={page.next_cursor}"
        headers = {"X-Next-Cursor": page.next_cursor, "Link": f'<{next_url}>; rel="next"'}
    return json_response([user.to_dict() for user in page.users], headers=headers)


@app.route("/user", methods=["POST"], content_types=["multipart/form-data"])
def create_user():
    form = read.user_form(app.current_request)
    user = get_service().register(name=form.name, email=form.email, avatar=form.avatar)
    return json_response(user.to_dict(), status=201)


@app.route("/healthz", methods=["GET"])
def healthz():
    return json_response({"status": "ok"})


@app.route("/readyz", methods=["GET"])
def readyz():
    readiness = get_readiness().check()
    if readiness.ready:
        return json_response({"status": "ready", "checks": readiness.checks})
    headers = {}
    if readiness.retry_after_seconds is not None:
        headers["Retry-After"] = str(readiness.retry_after_seconds)
    return json_response({"status": "unavailable", "checks": readiness.checks}, status=503,
                         headers=headers)


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
    response = swagger.swagger_asset(asset)
    if response is None:
        raise NotFound(f"no such asset: {asset}")
    return response
