"""After the deploy: the public URL and GET /openapi.json through the load balancer, checked
against the real serving command and a local TLS server with its own CA (SNI + certificate)."""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import subprocess
import threading
from functools import partial
from urllib.parse import urlsplit

import pytest

from deploy import public


def test_public_check_through_the_real_server(live_server):
    """GET /openapi.json the way the flow checks the ALB, here against the real serving command."""
    url = urlsplit(live_server)
    endpoint = public.PublicEndpoint(url.hostname, "http")
    document = public.check_openapi(endpoint, get=partial(public.fetch, port=url.port), timeout=30)
    assert document["openapi"].startswith("3.")
    with pytest.raises(RuntimeError, match="HTTP 404"):
        public.check_openapi(endpoint, timeout=0,
                             get=lambda e: public.fetch(e, "/not-routed", port=url.port))


def test_ingress_hostname_is_polled_until_the_alb_has_one():
    answers = iter(["", "", "k8s-usersapi-0123.eu-west-1.elb.amazonaws.com"])
    sleeps = []

    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, next(answers), "")

    command = public.ingress_hostname_command("users-api-dev", "users-api", "users-api")
    assert command[-1] == "jsonpath={.status.loadBalancer.ingress[0].hostname}"
    assert public.wait_for_ingress_hostname(command, run=run, sleep=sleeps.append) == \
        "k8s-usersapi-0123.eu-west-1.elb.amazonaws.com"
    assert len(sleeps) == 2
    with pytest.raises(TimeoutError, match="no load balancer address"):
        public.wait_for_ingress_hostname(command, timeout=0, sleep=sleeps.append,
                                         run=lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "x"))


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate covers users.example.org, from a CA made
    here; it answers /openapi.json and records the Host header."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, sign_key, *, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(sign_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "users-api test CA")])
    ca_cert = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "users.example.org")])
    leaf = cert(name, ca_name, key, ca_key, ca=False, san=[x509.DNSName("users.example.org")])
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    hosts = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hosts.append(self.headers["Host"])
            body = json.dumps({"openapi": "3.0.3", "info": {"title": "users-api"}}).encode()
            self.send_response(200 if self.path == "/openapi.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        yield server.server_address[1], client, hosts
    finally:
        server.shutdown()
        server.server_close()


def test_https_check_names_the_api_host_at_the_load_balancer(tls_server):
    port, client, hosts = tls_server
    # the load balancer's own address, the API's name for TLS and Host (DNS need not point yet)
    endpoint = public.PublicEndpoint("127.0.0.1", "https", "users.example.org")
    assert endpoint.url == "https://users.example.org"
    document = public.check_openapi(endpoint, timeout=10, get=partial(public.fetch, port=port, tls=client))
    assert document["info"]["title"] == "users-api"
    assert hosts == ["users.example.org"]


def test_https_check_refuses_a_certificate_for_another_name(tls_server):
    port, client, _ = tls_server
    wrong = public.PublicEndpoint("127.0.0.1", "https", "other.example.org")
    with pytest.raises(ssl.SSLCertVerificationError):
        public.fetch(wrong, port=port, tls=client)
    with pytest.raises(RuntimeError, match="SSLCertVerificationError"):
        public.check_openapi(wrong, timeout=0, get=partial(public.fetch, port=port, tls=client))
