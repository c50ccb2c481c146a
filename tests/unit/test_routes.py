"""The routes' shared path, without a server: the one error handler in Chalice's middleware,
the status map from the ApiError classes, and process set-up on first use.

The app runs under chalice.test.Client, i.e. Chalice's own Lambda handler: the entry point a
Lambda function importing app.py would have. It runs in a child process, because the first
request configures the process's logging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chalicelib.errors import ApiError, code_for_status

API_DIR = Path(__file__).resolve().parents[2] / "api"

SCRIPT = textwrap.dedent('''
    import json, logging, sys
    from unittest import mock

    root = logging.getLogger()
    before = list(root.handlers)
    from app import app
    from chalice.test import Client

    out = {"handlers_unchanged_by_import": root.handlers == before}
    with Client(app) as client:
        def call(method, path, **kwargs):
            r = getattr(client.http, method)(path, **kwargs)
            return {"status": r.status_code, "headers": {k.lower(): v for k, v in r.headers.items()},
                    "body": json.loads(r.body or b"null")}
        out["limit"] = call("get", "/users?limit=0")
        out["json_logs_after_first_request"] = any(
            type(h.formatter).__name__ == "JsonFormatter" for h in root.handlers)
        out["asset"] = call("get", "/swagger/nope")
        out["method"] = call("put", "/users")
        out["media"] = call("post", "/user", headers={"content-type": "text/plain"}, body=b"x")
        with mock.patch("app.get_service", side_effect=RuntimeError("secret detail")):
            out["bug"] = call("get", "/users")
    # stdout is the JSON log's; the answers go to their own file.
    with open(sys.argv[1], "w") as answers:
        json.dump(out, answers)
''')


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("routes") / "answers.json"
    env = {**os.environ, "LOG_LEVEL": "CRITICAL", "PYTHONPATH": str(API_DIR)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], cwd=API_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


def test_importing_the_app_sets_nothing_up_the_first_request_does(answers):
    assert answers["handlers_unchanged_by_import"]
    assert answers["json_logs_after_first_request"]


@pytest.mark.parametrize("case, status, code, message", [
    ("limit", 400, "invalid_field", "limit: must be an integer from 1 to 1000"),
    ("asset", 404, "not_found", "no such asset: nope"),
    ("method", 405, "method_not_allowed", "Unsupported method: PUT"),
    ("media", 415, "unsupported_media_type", "Unsupported media type: text/plain"),
    ("bug", 500, "internal_error", "an internal error occurred"),
])
def test_every_error_has_one_shape_whoever_raised_it(answers, case, status, code, message):
    answer = answers[case]
    assert answer["status"] == status
    error = answer["body"]["error"]
    assert (error["code"], error["message"]) == (code, message)
    assert error["request_id"] == answer["headers"]["x-request-id"]
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["x-content-type-options"] == "nosniff"


def test_the_status_map_comes_from_the_error_classes():
    assert {status: code_for_status(status) for status in (400, 404, 405, 413, 415, 500)} == {
        400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
        413: "payload_too_large", 415: "unsupported_media_type", 500: "internal_error"}
    # Statuses no class claims get their phrase; a class's own code is not a status default.
    assert code_for_status(409) == "conflict" and code_for_status(503) == "service_unavailable"

    class Teapot(ApiError, default_for_status=True):
        status, code = 418, "teapot"

    try:
        assert code_for_status(418) == "teapot"
    finally:
        ApiError._codes_by_status.pop(418)
