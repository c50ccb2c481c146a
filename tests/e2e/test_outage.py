"""DynamoDB and S3 going away and coming back, seen through the live API."""

import socket
import threading
import time

import pytest
import requests

from tests.e2e.conftest import bucket_keys, post_user
from tests.fixtures.emulator import free_port


class SwitchableProxy:
    """A TCP forwarder to the emulator that can be switched off: while off, every
    connection is closed at once, as when the backend is unreachable."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self.up and (data := source.recv(65536)):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closing = True
        self._server.close()


@pytest.fixture
def outage_server(start_server, aws_env, clean_backend):
    moto_port = int(clean_backend.rsplit(":", 1)[1])
    proxy = SwitchableProxy(moto_port)
    env = {**aws_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
           "READINESS_CACHE_SECONDS": "0.2"}
    url, _ = start_server(env, wait_path="/healthz")
    yield url, proxy
    proxy.close()


def test_backend_down_gives_503_then_recovers(outage_server, s3, start_server):
    url, proxy = outage_server
    assert requests.get(f"{url}/readyz", timeout=10).status_code == 200

    proxy.up = False
    time.sleep(0.3)
    listing = requests.get(f"{url}/users", timeout=30)
    assert listing.status_code == 503
    assert listing.headers["Retry-After"].isdigit()
    body = listing.json()["error"]
    assert body["code"] == "service_unavailable"
    assert "127.0.0.1" not in body["message"] and "Error" not in body["message"]
    created = post_user(url)
    assert created.status_code == 503
    ready = requests.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["dynamodb"] != "ok" and ready.json()["checks"]["s3"] != "ok"
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # liveness holds

    proxy.up = True
    time.sleep(0.3)
    assert requests.get(f"{url}/readyz", timeout=30).status_code == 200
    assert post_user(url).status_code == 201
    assert len(bucket_keys(s3)) == 1
    metrics = requests.get(start_server.metrics_url(url), timeout=10).text
    assert ('users_api_backend_errors_total{backend="dynamodb",kind="unavailable",'
            'operation="Scan"}') in metrics
