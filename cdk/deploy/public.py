"""After the deploy: the public URL (from the Ingress status) and a check through it.

The check is ``GET /openapi.json``: a public path that needs the app, not only the load balancer.
``/healthz`` is deliberately not routed through the ALB (the chart's publicPaths), so it would
answer 404 there.

With API_HOSTNAME the request goes to the load balancer's address but names that host (TLS SNI
and certificate check, Host header), so the check works before DNS points at the ALB and still
verifies the certificate the user will see.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

CHECK_PATH = "/openapi.json"


@dataclass(frozen=True)
class PublicEndpoint:
    lb_hostname: str  # the ALB's DNS name, from the Ingress status
    scheme: str  # https with a certificate, else http
    api_hostname: str | None = None  # the name users type; None: the ALB's own name

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.api_hostname or self.lb_hostname}"


def ingress_hostname_command(kube_context: str, namespace: str, name: str) -> list[str]:
    return ["kubectl", "--context", kube_context, "--namespace", namespace, "get", "ingress", name,
            "-o", "jsonpath={.status.loadBalancer.ingress[0].hostname}"]


def wait_for_ingress_hostname(command: list[str], *, timeout: float = 600, interval: float = 10,
                              run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                              sleep: Callable[[float], None] = time.sleep) -> str:
    """Poll the Ingress until the load balancer controller wrote its address (a few minutes)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = run(command, capture_output=True, text=True, check=False, timeout=60)
        hostname = proc.stdout.strip() if proc.returncode == 0 else ""
        if hostname:
            return hostname
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"the Ingress has no load balancer address after {timeout:.0f}s: see "
                f"`{' '.join(command[:-2])} -o yaml` and its events."
            )
        sleep(interval)


def fetch(endpoint: PublicEndpoint, path: str = CHECK_PATH, *, timeout: float = 10,
          port: int | None = None, tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """One GET to the load balancer address, naming api_hostname when given (TLS server name,
    certificate check against the system's CAs, or ``tls``'s, and the Host header)."""
    host = endpoint.api_hostname or endpoint.lb_hostname
    if endpoint.scheme == "https":
        port = port or 443
        raw = socket.create_connection((endpoint.lb_hostname, port), timeout=timeout)
        try:
            sock = (tls or ssl.create_default_context()).wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
    else:
        port = port or 80
        sock = socket.create_connection((endpoint.lb_hostname, port), timeout=timeout)
    try:
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
                   "User-Agent: users-api-deploy-check\r\nConnection: close\r\n\r\n")
        sock.sendall(request.encode("ascii"))
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()
    finally:
        sock.close()


def check_openapi(endpoint: PublicEndpoint, *, timeout: float = 300, interval: float = 10,
                  get: Callable[[PublicEndpoint], tuple[int, bytes]] = fetch,
                  sleep: Callable[[float], None] = time.sleep) -> dict:
    """Retry GET /openapi.json until it answers 200 with an OpenAPI document (a new ALB needs a
    few minutes for DNS and target registration); return the document."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            status, body = get(endpoint)
            if status == 200:
                document = json.loads(body)
                if isinstance(document, dict) and "openapi" in document:
                    return document
                last = "200 without an OpenAPI document"
            else:
                last = f"HTTP {status}"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise RuntimeError(f"GET {endpoint.url}{CHECK_PATH} did not succeed within "
                               f"{timeout:.0f}s (last: {last})")
        sleep(interval)
