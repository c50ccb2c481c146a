"""The one serving command, for `make serve`, `make run` and the image: `python3 api/serve.py`.

waitress serves the WSGI application of api/wsgi.py. Its asynchronous front end reads each
request, headers and body, into a buffer before a worker thread sees it, so a client that
dribbles its request holds a buffer, not a thread (README, "Serving"). On top of waitress this
module adds only what the service needs and waitress does not have:

- a bound on the time a request may take to arrive (SERVER_RECEIVE_TIMEOUT), separate from the
  idle keep-alive timeout (SERVER_KEEPALIVE_TIMEOUT, above the ALB's 60 s);
- the API's JSON error shape, X-Request-ID, metrics and access log for what waitress refuses
  itself (an oversized header, a malformed request line, a request that arrives too slowly);
- a small lane of worker threads of its own for /healthz, /readyz and /metrics, so the probes
  answer while every API thread waits on a hung backend;
- /metrics on METRICS_PORT, apart from the API's PORT;
- graceful SIGTERM: stop accepting, let requests in progress finish for up to
  SERVER_GRACEFUL_TIMEOUT, then exit 0.

One process per pod: the pod's CPU is used by one Python process (the chart's CPU limit is 1),
and Kubernetes scales by adding pods. Metrics therefore live in this process's memory; no
multiprocess directory is written or shared.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

log = logging.getLogger("users_api.serve")

# Paths answered by the probe lane: cheap, and what the kubelet and Prometheus call.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
PROBE_THREADS = 3
# Request line plus headers. The ALB allows 64 KB of headers; a larger request is refused
# with 431 before any thread sees it.
MAX_REQUEST_HEADER_BYTES = 64 * 1024


class ServingError(RuntimeError):
    """The serving environment is invalid (refused at start, never per request)."""


@dataclass(frozen=True)
class ServingSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    metrics_port: int = 9090
    threads: int = 16
    # Idle keep-alive: longer than the ALB's 60 s idle timeout, so the ALB closes first.
    keepalive_timeout: int = 75
    # From a request's first byte to its last: a client slower than this gets 408 and is closed.
    # 20 s: a 5 MiB avatar needs about 2 Mbit/s; and slots held by slow clients free up well
    # within the kubelet's liveness budget (3 x 10 s).
    request_receive_timeout: int = 20
    graceful_timeout: int = 20
    # Bodies over 512 KB are buffered in /tmp while they arrive: at most this many times the
    # request limit (about 5.1 MiB) at once, 1 GiB at the default.
    connection_limit: int = 200
    forwarded_allow_ips: str = "127.0.0.1"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServingSettings:
        env = dict(os.environ if env is None else env)

        def number(name: str, default: int) -> int:
            raw = env.get(name, "")
            if not raw:
                return default
            if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
                raise ServingError(f"{name} must be a positive integer, got {raw!r}")
            return int(raw)

        return cls(
            host=env.get("HOST") or cls.host,
            port=number("PORT", cls.port),
            metrics_port=number("METRICS_PORT", cls.metrics_port),
            threads=number("SERVER_THREADS", cls.threads),
            keepalive_timeout=number("SERVER_KEEPALIVE_TIMEOUT", cls.keepalive_timeout),
            request_receive_timeout=number("SERVER_RECEIVE_TIMEOUT", cls.request_receive_timeout),
            graceful_timeout=number("SERVER_GRACEFUL_TIMEOUT", cls.graceful_timeout),
            connection_limit=number("SERVER_CONNECTION_LIMIT", cls.connection_limit),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS") or cls.forwarded_allow_ips,
        )


def _protocol_error(request, status: int, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The API's error answer for a request that never reached the application."""
    from chalicelib.middleware import rejected_before_routing

    headers = {name.lower().replace("_", "-"): value
               for name, value in (getattr(request, "headers", None) or {}).items()}
    method = getattr(request, "command", None) or "other"
    code, response_headers, body = rejected_before_routing(method, headers, status, message)
    reason = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
              431: "Request Header Fields Too Large", 501: "Not Implemented"}.get(code, "Error")
    return f"{code} {reason}", list(response_headers.items()), body


class _JsonErrorTask(ErrorTask):
    """waitress's answer to a request it cannot parse, in the API's error shape."""

    def execute(self) -> None:
        error = self.request.error
        message = str(error.body).strip() or error.reason
        self.status, headers, body = _protocol_error(self.request, error.code, message)
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    """A connection that remembers when its current request began to arrive."""

    error_task_class = _JsonErrorTask
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        started = self.request_started if self.request is not None else None
        result = super().received(data)
        # None once the request is complete (handed to a thread); a new partial request
        # in the same chunk starts its own clock now.
        self.request_started = (started or time.monotonic()) if self.request is not None else None
        return result

    def refuse_slow_request(self) -> None:
        """Answer 408 and close (called from the event loop: no task runs on this channel)."""
        status, headers, body = _protocol_error(
            self.request, 408, "the request did not arrive within the server's receive timeout")
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        data = (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        self.request = None
        self.request_started = None
        with self.outbuf_lock:
            self.outbufs[-1].append(data)
            self.total_outbufs_len += len(data)
        self.close_when_flushed = True


class _Server(TcpWSGIServer):
    channel_class = _Channel

    def __init__(self, application, *, socket_map: dict, dispatcher, adj: Adjustments,
                 receive_timeout: float, probe_lane: bool = False) -> None:
        self.receive_timeout = receive_timeout
        self.probe_lane = probe_lane
        super().__init__(application, map=socket_map, dispatcher=dispatcher, adj=adj)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections (channel_timeout)
        cutoff = time.monotonic() - self.receive_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and started < cutoff and not channel.requests:
                channel.refuse_slow_request()


class _Lanes:
    """Worker threads in two lanes: the API's, and a small one for the probes and /metrics.

    waitress hands a connection with a complete request to the dispatcher; this one picks the
    lane from the server it came through and the request's path."""

    def __init__(self, api_threads: int, probe_threads: int = PROBE_THREADS) -> None:
        self.api, self.probes = ThreadedTaskDispatcher(), ThreadedTaskDispatcher()
        self.api.set_thread_count(api_threads)
        self.probes.set_thread_count(probe_threads)
        self.capacity = api_threads + probe_threads

    def add_task(self, channel) -> None:
        request = channel.requests[0] if channel.requests else None
        to_probes = channel.server.probe_lane or (
            request is not None and request.error is None and request.path in PROBE_PATHS)
        (self.probes if to_probes else self.api).add_task(channel)

    def busy(self) -> bool:
        return any(lane.queue or lane.active_count for lane in (self.api, self.probes))

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> None:
        self.api.shutdown(cancel_pending, timeout)
        self.probes.shutdown(cancel_pending, timeout)


class Service:
    """The API and metrics listeners on one event loop, with graceful shutdown."""

    def __init__(self, settings: ServingSettings, application, metrics_application,
                 max_body_bytes: int) -> None:
        self.settings = settings
        self.socket_map: dict = {}
        self.lanes = _Lanes(settings.threads)
        self.stopping = False
        common = {
            "host": settings.host,
            "channel_timeout": settings.keepalive_timeout,
            # How often idle and slow connections are looked for, in seconds.
            "cleanup_interval": 1,
            "connection_limit": settings.connection_limit,
            "max_request_header_size": MAX_REQUEST_HEADER_BYTES,
            # Refused with 413 from Content-Length (or as a chunked body grows), never buffered.
            "max_request_body_size": max_body_bytes,
            # poll(), not select(): select() cannot watch more than 1024 descriptors.
            "asyncore_use_poll": True,
            "ident": "users-api",
            "trusted_proxy": settings.forwarded_allow_ips,
            "trusted_proxy_headers": "x-forwarded-for x-forwarded-proto",
            "clear_untrusted_proxy_headers": True,
            "log_socket_errors": False,
        }
        self.api = _Server(application, socket_map=self.socket_map, dispatcher=self.lanes,
                           adj=Adjustments(port=settings.port, **common),
                           receive_timeout=settings.request_receive_timeout)
        self.metrics = _Server(metrics_application, socket_map=self.socket_map,
                               dispatcher=self.lanes,
                               adj=Adjustments(port=settings.metrics_port, **common),
                               receive_timeout=settings.request_receive_timeout, probe_lane=True)

    def request_stop(self, *_: object) -> None:
        if self.stopping:  # a second SIGTERM: stop now
            raise SystemExit(0)
        self.stopping = True
        self.api.pull_trigger()

    def run(self) -> int:
        while not self.stopping:
            wasyncore.loop(timeout=1.0, map=self.socket_map, use_poll=True, count=1)
        return self.drain()

    def drain(self) -> int:
        """Stop accepting; finish what has arrived or is arriving; close idle connections."""
        deadline = time.monotonic() + self.settings.graceful_timeout
        for server in (self.api, self.metrics):
            # The listening socket only: the server's trigger still wakes the loop for replies.
            wasyncore.dispatcher.close(server)
        log.info("SIGTERM: draining", extra={"graceful_timeout_s": self.settings.graceful_timeout})
        while time.monotonic() < deadline:
            channels = [c for c in list(self.socket_map.values()) if isinstance(c, HTTPChannel)]
            busy = False
            for channel in channels:
                if channel.requests or channel.request is not None or channel.total_outbufs_len:
                    busy = True
                elif not channel.will_close:
                    channel.will_close = True  # idle keep-alive connection: close it now
            if not busy and not self.lanes.busy():
                break
            wasyncore.loop(timeout=0.1, map=self.socket_map, use_poll=True, count=1)
        else:
            log.warning("graceful timeout over; closing the connections left")
        self.lanes.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(self.socket_map)
        return 0


def _with_two_malloc_arenas() -> None:
    """glibc gives threads malloc arenas of their own (up to eight per core), and a threaded
    server's memory grows with them; two keep it near a single-threaded process's (about 6 MB
    less under load here). glibc reads the setting once, when the process starts, so the
    command starts itself again with it. An explicit MALLOC_ARENA_MAX is kept."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    os.environ["MALLOC_ARENA_MAX"] = "2"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - ourselves


def main() -> int:
    _with_two_malloc_arenas()
    try:
        settings = ServingSettings.from_env()
    except ServingError as error:
        print(f"serve.py: {error}", file=sys.stderr)
        return 2
    # One process: metrics stay in memory. A multiprocess directory left in the environment (an
    # old configuration) would make prometheus-client write files there; it has no use here.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from prometheus_client import make_wsgi_app

    from chalicelib import observability
    from wsgi import application
    from wsgi import settings as app_settings

    try:
        service = Service(settings, application, make_wsgi_app(), app_settings.max_request_bytes)
    except OSError as error:
        print(f"serve.py: cannot listen on {settings.host} ports {settings.port} (PORT) and "
              f"{settings.metrics_port} (METRICS_PORT): {error.strerror}. Another `make run` "
              "or `make serve`? Give this one other ports.", file=sys.stderr)
        return 1
    # The API's threads: its capacity (the probe lane's 3 serve the kubelet and Prometheus).
    observability.WORKER_THREADS.set(settings.threads)
    signal.signal(signal.SIGTERM, service.request_stop)
    # Ctrl-C and SIGQUIT stop at once, as before.
    signal.signal(signal.SIGQUIT, lambda *_: os._exit(0))
    log.info("serving", extra={"api": f"http://{settings.host}:{settings.port}",
                               "metrics": f"http://{settings.host}:{settings.metrics_port}/metrics",
                               "threads": service.lanes.capacity})
    try:
        return service.run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
