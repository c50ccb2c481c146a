"""Static checks of localstack/compose.yaml (no Docker engine on CI machines).

The health-check command is also run here, against a stand-in for LocalStack's
/_localstack/health endpoint, so its pass/fail logic is exercised and not only its syntax.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.localstack.tfmodel import LOCALSTACK_DIR

# 4.14.0 (Feb 2026) is the last LocalStack release that starts without an auth token; `latest`
# and the calendar-versioned releases (2026.03.0 on) exit unless LOCALSTACK_AUTH_TOKEN is set.
LAST_TOKENLESS = (4, 14)
SERVICES = {"s3", "dynamodb", "iam", "sts"}


def test_compose_file_is_valid_yaml_with_one_service(compose):
    assert isinstance(compose, dict)
    assert set(compose["services"]) == {"localstack"}


def test_image_is_pinned_to_a_tokenless_community_tag(localstack_service):
    image = localstack_service["image"]
    repo, _, tag = image.rpartition(":")
    assert repo == "localstack/localstack", image
    assert tag and tag != "latest" and "@" not in repo, f"pin the image by tag, not {image!r}"
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", tag)
    assert match, f"pin an exact version tag, not {tag!r}"
    major, minor = int(match.group(1)), int(match.group(2))
    assert major == 4 and (major, minor) <= LAST_TOKENLESS, (
        f"{tag}: only 4.x up to 4.14 runs without an auth token")
    env = localstack_service.get("environment", {})
    assert not any("AUTH_TOKEN" in key or "API_KEY" in key for key in env), env


def test_services_are_limited_to_what_the_app_uses(localstack_service):
    env = localstack_service["environment"]
    assert isinstance(env, dict), "use the mapping form for environment"
    assert set(env["SERVICES"].split(",")) == SERVICES


def test_port_is_4566_on_loopback_only(localstack_service):
    assert [str(p) for p in localstack_service["ports"]] == ["127.0.0.1:4566:4566"]


def test_no_docker_socket_and_no_privileges(localstack_service):
    volumes = [str(v) for v in localstack_service.get("volumes", [])]
    assert not any("docker.sock" in v for v in volumes), volumes
    assert not localstack_service.get("privileged", False)


def _healthcheck_code(localstack_service) -> str:
    test = localstack_service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"], test
    assert len(test) == 4
    return test[3]


def test_healthcheck_targets_the_health_endpoint(localstack_service):
    health = localstack_service["healthcheck"]
    code = _healthcheck_code(localstack_service)
    assert "http://127.0.0.1:4566/_localstack/health" in code
    compile(code, "healthcheck", "exec")
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in health, key
    # `make localstack-up` waits with `docker compose up --wait`: give LocalStack a minute or two.
    seconds = int(health["interval"].rstrip("s")) * int(health["retries"])
    assert 60 <= seconds <= 300, seconds


class _FakeHealth(BaseHTTPRequestHandler):
    services: dict[str, str] = {}

    def do_GET(self):
        if self.path != "/_localstack/health":
            self.send_error(404)
            return
        body = json.dumps({"services": self.services, "edition": "community",
                           "version": "4.14.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_health():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHealth)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("states", "healthy"), [
    ({"s3": "running", "dynamodb": "available", "iam": "available", "sts": "running",
      "lambda": "disabled"}, True),
    ({"s3": "running", "dynamodb": "disabled", "iam": "available", "sts": "running"}, False),
    ({"s3": "running", "iam": "available", "sts": "running"}, False),
    ({"s3": "error", "dynamodb": "running", "iam": "available", "sts": "running"}, False),
])
def test_healthcheck_passes_only_when_all_four_services_are_up(
        localstack_service, fake_health, states, healthy):
    code = _healthcheck_code(localstack_service).replace(
        "http://127.0.0.1:4566", f"http://127.0.0.1:{fake_health.server_port}")
    _FakeHealth.services = states
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                            check=False)
    assert (result.returncode == 0) is healthy, result.stderr


def test_healthcheck_fails_when_nothing_listens(localstack_service):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = _healthcheck_code(localstack_service).replace(
        "http://127.0.0.1:4566", f"http://127.0.0.1:{port}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                            check=False)
    assert result.returncode != 0


def test_readme_documents_the_loop():
    readme = (LOCALSTACK_DIR / "README.md").read_text(encoding="utf-8").lower()
    for needle in ("make localstack-up", "make localstack-provision",
                   'eval "$(make -s localstack-env)"', "make serve", "make localstack-down",
                   "tflocal", "terraform-local", "4.14.0", "persist"):
        assert needle.lower() in readme, f"localstack/README.md does not mention {needle!r}"
