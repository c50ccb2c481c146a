"""A small closed-loop HTTP/1.1 load generator (asyncio, keep-alive), run as its own process.

    python tests/load/loadgen.py < spec.json > result.json

The spec names one scenario; N clients each hold one keep-alive connection and send
the next request as soon as the previous answer has arrived. Every run is bounded in
time (no request starts after `duration` seconds) and in count (`max_requests`), and
in-flight requests get at most `request_timeout` seconds. Load goes to 127.0.0.1 only.

Kinds of scenario:
  get    GET `path` again and again.
  pages  walk GET /users?limit=N page by page (X-Next-Cursor), from the start again at the end.
  post   POST /user multipart (name, email, avatar file), every email unique.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Run as a script in its own process: the shared test helpers live under the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.fixtures.forms import user_form  # noqa: E402

ALLOWED_HOST = "127.0.0.1"


@dataclass
class Spec:
    port: int
    kind: str = "get"
    path: str = "/healthz"
    concurrency: int = 1
    duration: float = 5.0
    max_requests: int = 1000
    warmup_requests: int = 0
    request_timeout: float = 120.0
    expect: list[int] = field(default_factory=lambda: [200])
    page_limit: int = 100
    avatar_file: str | None = None
    email_prefix: str = "bench"
    # keep-alive (the default), or a new connection per request ("Connection: close")
    close: bool = False
    host: str = ALLOWED_HOST


class _Budget:
    def __init__(self, spec: Spec) -> None:
        self.deadline = time.monotonic() + spec.duration
        self.left = spec.max_requests
        self.warmup_left = spec.warmup_requests

    def take(self) -> str | None:
        """'warmup', 'measure', or None when the run is over."""
        if self.warmup_left > 0:
            self.warmup_left -= 1
            return "warmup"
        if self.left <= 0 or time.monotonic() >= self.deadline:
            return None
        self.left -= 1
        return "measure"


@dataclass
class _Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    first_start: float | None = None
    last_end: float | None = None


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None

    async def request(self, head: bytes, body_parts: list[bytes]) -> tuple[int, dict, bytes]:
        await self.ensure()
        assert self.writer is not None and self.reader is not None
        self.writer.write(head)
        for part in body_parts:
            self.writer.write(part)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or b"Connection: close" in head:
            await self.close()
        return status, headers, body


def _get_head(host: str, port: int, target: str, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return (f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n{connection}"
            "Accept: application/json\r\n\r\n").encode()


class _Post:
    def __init__(self, spec: Spec) -> None:
        if not spec.avatar_file:
            raise ValueError("a post scenario needs avatar_file")
        with open(spec.avatar_file, "rb") as handle:
            self.avatar = handle.read()
        self.boundary = "bench" + uuid.uuid4().hex
        self.spec = spec

    def build(self, client: int, seq: int) -> tuple[bytes, list[bytes]]:
        b = self.boundary
        email = f"{self.spec.email_prefix}-{client}-{seq}@bench.example.org"
        content_type, before, after = user_form(f"Bench User {seq}", email, b)
        length = len(before) + len(self.avatar) + len(after)
        head = (f"POST /user HTTP/1.1\r\nHost: {self.spec.host}:{self.spec.port}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {length}\r\nAccept: application/json\r\n\r\n").encode()
        return head, [before, self.avatar, after]


async def _client(index: int, spec: Spec, budget: _Budget, result: _Result,
                  post: _Post | None) -> None:
    conn = _Connection(spec.host, spec.port)
    cursor: str | None = None
    seq = 0
    try:
        while (phase := budget.take()) is not None:
            seq += 1
            if spec.kind == "post":
                assert post is not None
                head, body = post.build(index, seq)
            elif spec.kind == "pages":
                target = f"/users?limit={spec.page_limit}"
                if cursor:
                    target += "&cursor=" + quote(cursor, safe="")
                head, body = _get_head(spec.host, spec.port, target, spec.close), []
            else:
                head, body = _get_head(spec.host, spec.port, spec.path, spec.close), []
            started = time.perf_counter()
            if phase == "measure" and result.first_start is None:
                result.first_start = started
            try:
                status, headers, payload = await asyncio.wait_for(
                    conn.request(head, body), spec.request_timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ValueError, IndexError) as error:
                name = type(error).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
                await conn.close()
                continue
            ended = time.perf_counter()
            if spec.kind == "pages":
                cursor = headers.get("x-next-cursor")
            if phase == "warmup":
                continue
            result.latencies.append(ended - started)
            result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
            result.bytes_in += len(payload)
            result.last_end = ended
    finally:
        await conn.close()


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


async def run(spec: Spec) -> dict:
    if spec.host != ALLOWED_HOST:
        raise ValueError(f"load goes to {ALLOWED_HOST} only, not {spec.host!r}")
    post = _Post(spec) if spec.kind == "post" else None
    budget = _Budget(spec)
    result = _Result()
    cpu_before = time.process_time()
    tasks = [asyncio.create_task(_client(i, spec, budget, result, post))
             for i in range(spec.concurrency)]
    # A hard stop on top of the per-request timeout: the run always ends by itself.
    done, pending = await asyncio.wait(tasks, timeout=spec.duration + spec.request_timeout + 5)
    for task in pending:
        task.cancel()
    if pending:
        result.errors["cancelled_clients"] = len(pending)
    for task in done:
        if task.exception() is not None:
            name = type(task.exception()).__name__
            result.errors[name] = result.errors.get(name, 0) + 1
    latencies = sorted(result.latencies)
    elapsed = ((result.last_end - result.first_start)
               if result.first_start is not None and result.last_end is not None else 0.0)
    unexpected = sum(n for s, n in result.statuses.items() if int(s) not in spec.expect)
    return {
        "requests": len(latencies),
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 2) if elapsed > 0 else None,
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2),
            "p95": round(percentile(latencies, 95) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "max": round(latencies[-1] * 1000, 2) if latencies else None,
        },
        "statuses": result.statuses,
        "unexpected_statuses": unexpected,
        "errors": result.errors,
        "bytes_in": result.bytes_in,
        "client_cpu_s": round(time.process_time() - cpu_before, 3),
    }


def main() -> int:
    spec = Spec(**json.load(sys.stdin))
    report = asyncio.run(run(spec))
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
