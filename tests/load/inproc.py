"""In-process measurements for `make bench`: the shim's own cost, and where CPU goes.

    python tests/load/inproc.py TASKS_JSON OUT_JSON      (env: the app's, pointing at the emulator)

Imports the app exactly as the serving command does (api/wsgi.py) and, for one request at a time:
  overhead  times `application(environ, start_response)` (the WSGI shim) against
            `app(event, context)` (a direct call of the Chalice app with the event the
            shim would build, as Lambda would make it), interleaved, wall and CPU time;
  profile   runs the request through the shim under pyinstrument, writes the text
            profile next to OUT_JSON and returns a breakdown of time by package.
"""

from __future__ import annotations

import io
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
API = REPO / "api"
# Run as a script: the shared test helpers live under the repository root.
sys.path.insert(0, str(REPO))
from tests.fixtures.forms import user_form  # noqa: E402


def _load_app():
    sys.path[:0] = [str(API), str(REPO)]
    import wsgi  # noqa: PLC0415 - the app reads its environment at import

    # The access log is part of the per-request cost, but its lines go nowhere here.
    devnull = open(os.devnull, "w")  # noqa: SIM115
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    return wsgi


class Request:
    """One HTTP request, as a WSGI environ factory and as the equivalent Lambda event."""

    def __init__(self, wsgi, method: str, path: str, query: str = "",
                 headers: dict[str, str] | None = None,
                 body_factory: Callable[[], bytes] | None = None) -> None:
        from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

        self.wsgi = wsgi
        self.method, self.path, self.query = method, path, query
        self.headers = {"host": "127.0.0.1", "accept": "application/json", **(headers or {})}
        self.body_factory = body_factory
        app = wsgi.app
        self._converter = LambdaEventConverter(RouteMatcher(list(app.routes)),
                                               app.api.binary_types)
        self.context = LambdaContext(function_name="users-api", memory_size=1024,
                                     max_runtime_ms=900_000)

    def environ(self, body: bytes | None) -> dict:
        env = {
            "REQUEST_METHOD": self.method, "PATH_INFO": self.path, "QUERY_STRING": self.query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body or b""),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1",
        }
        for name, value in self.headers.items():
            if name == "content-type":
                env["CONTENT_TYPE"] = value
            else:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        if body:
            env["CONTENT_LENGTH"] = str(len(body))
        return env

    def event(self, body: bytes | None) -> dict:
        url = self.path + (f"?{self.query}" if self.query else "")
        headers = dict(self.headers)
        if body:
            headers["content-length"] = str(len(body))
        return self._converter.create_lambda_event(self.method, url, headers, body)

    def body(self) -> bytes | None:
        return self.body_factory() if self.body_factory else None

    def via_shim(self, environ: dict) -> int:
        status = []
        chunks = self.wsgi.application(environ, lambda s, h, exc_info=None: status.append(s))
        b"".join(chunks)
        return int(status[0].split()[0])

    def direct(self, event: dict) -> int:
        return self.wsgi.app(event, self.context)["statusCode"]


def _multipart(avatar: bytes, counter: list[int]) -> tuple[str, Callable[[], bytes]]:
    boundary = "inproc" + uuid.uuid4().hex
    tag = uuid.uuid4().hex[:8]

    def factory() -> bytes:
        counter[0] += 1
        _, head, tail = user_form("In Proc", f"inproc-{tag}-{counter[0]}@bench.example.org",
                                  boundary)
        return head + avatar + tail

    return f"multipart/form-data; boundary={boundary}", factory


def build_request(wsgi, spec: dict, counter: list[int]) -> Request:
    if spec["kind"] == "post":
        avatar = Path(spec["avatar_file"]).read_bytes()
        content_type, factory = _multipart(avatar, counter)
        return Request(wsgi, "POST", "/user", headers={"content-type": content_type},
                       body_factory=factory)
    return Request(wsgi, "GET", spec["path"], spec.get("query", ""))


def measure_overhead(request: Request, iterations: int, rounds: int, expect: int) -> dict:
    """Shim and direct calls, alternating one by one (so drift and noise hit both alike);
    medians of the per-call wall and CPU (thread) times."""
    for _ in range(2):  # warm-up of both paths
        request.via_shim(request.environ(request.body()))
        request.direct(request.event(request.body()))
    samples: dict[str, list[float]] = {"shim_w": [], "shim_c": [], "direct_w": [], "direct_c": []}

    def timed(kind: str, call, arg) -> None:
        w0, c0 = time.perf_counter(), time.thread_time()
        assert call(arg) == expect
        samples[kind + "_c"].append(time.thread_time() - c0)
        samples[kind + "_w"].append(time.perf_counter() - w0)

    total = iterations * rounds
    # Both inputs are built outside the timing: the WSGI environ is the server's work,
    # the event is what API Gateway or Lambda hands over.
    environs = [request.environ(request.body()) for _ in range(total)]
    events = [request.event(request.body()) for _ in range(total)]
    for i, (environ, event) in enumerate(zip(environs, events, strict=True)):
        pair = [("shim", request.via_shim, environ), ("direct", request.direct, event)]
        for kind, call, arg in pair if i % 2 else reversed(pair):
            timed(kind, call, arg)
    m = {key: statistics.median(values) for key, values in samples.items()}
    return {
        "iterations": total,
        "shim_us": round(m["shim_w"] * 1e6, 1), "direct_us": round(m["direct_w"] * 1e6, 1),
        "shim_cpu_us": round(m["shim_c"] * 1e6, 1), "direct_cpu_us": round(m["direct_c"] * 1e6, 1),
        "ratio_wall": round(m["shim_w"] / m["direct_w"], 3),
        "ratio_cpu": round(m["shim_c"] / m["direct_c"], 3),
        "overhead_cpu_us": round((m["shim_c"] - m["direct_c"]) * 1e6, 1),
    }


WAITING = "waiting"
# Deepest frames that mean "this thread is waiting" (socket, locks), not computing.
_WAITING = ("recv_into", "readinto", "recv", "select", "poll", "sleep", "acquire", "wait",
            "sendall", "send", "connect", "create_connection", "getaddrinfo")


def _bucket(file_path: str, function: str) -> str:
    path = file_path.replace("\\", "/")
    if "/api/chalice_wsgi/" in path:
        return "shim (chalice_wsgi)"
    if "/api/chalicelib/" in path or path.endswith("/api/app.py"):
        return "app (app.py, chalicelib)"
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".py")
    if "/python3" in path and "/lib/" in path:
        module = Path(path)
        return "stdlib " + (module.parent.name if module.stem == "__init__" else module.stem)
    return file_path or "?"


def breakdown(session) -> dict[str, float]:
    """Share of busy time per package, by each sample's deepest Python frame; time spent
    waiting on sockets and locks (the emulator, the network) is counted apart."""
    totals: dict[str, float] = {}

    def walk(frame, owner: str) -> None:
        file_path = frame.file_path or ""
        is_builtin = file_path in ("", "<built-in>")
        bucket = owner if is_builtin else _bucket(file_path, frame.function)
        name = frame.function.rsplit(".", 1)[-1]
        if is_builtin and name in _WAITING:
            bucket = WAITING
        # total_self_time already holds the synthetic "[self]" children.
        if frame.total_self_time > 0:
            totals[bucket] = totals.get(bucket, 0.0) + frame.total_self_time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, bucket)

    root = session.root_frame()
    if root is not None:
        walk(root, "?")
    waiting = totals.pop(WAITING, 0.0)
    busy = sum(totals.values()) or 1.0
    return {
        "waiting_percent_of_wall": round(waiting / (waiting + busy) * 100, 1),
        "percent_of_busy_time": {
            k: round(v / busy * 100, 1)
            for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v / busy >= 0.005},
    }


def profile(request: Request, iterations: int, out_file: Path) -> dict:
    from pyinstrument import Profiler

    environs = [request.environ(request.body()) for _ in range(iterations)]
    profiler = Profiler(interval=0.0005)
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    profiler.start()
    for environ in environs:
        request.via_shim(environ)
    profiler.stop()
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    out_file.write_text(profiler.output_text(unicode=True, color=False, show_all=False,
                                             timeline=False))
    return {
        "iterations": iterations,
        "wall_ms_per_request": round(wall / iterations * 1000, 3),
        "cpu_ms_per_request": round(cpu / iterations * 1000, 3),
        **breakdown(profiler.last_session),
        "profile_file": str(out_file.relative_to(REPO)) if out_file.is_relative_to(REPO)
        else str(out_file),
    }


def main(argv: list[str]) -> int:
    tasks = json.loads(argv[1])
    out = Path(argv[2])
    wsgi = _load_app()
    counter = [0]
    results: dict[str, dict] = {"overhead": {}, "profile": {}}
    for task in tasks:
        request = build_request(wsgi, task, counter)
        if task["mode"] == "overhead":
            results["overhead"][task["name"]] = measure_overhead(
                request, task["iterations"], task["rounds"], task.get("expect", 200))
        else:
            results["profile"][task["name"]] = profile(
                request, task["iterations"], out.parent / f"profile-{task['name']}.txt")
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
