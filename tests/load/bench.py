"""`make bench`: what one users-api pod costs and holds, measured on this machine.

    python tests/load/bench.py                 full run (about 8 minutes on 2 cores)
    BENCH_QUICK=1 python tests/load/bench.py   short run (about 1.5 minutes)

It starts the embedded emulator (moto server) and the real serving command
(`python3 api/serve.py`: waitress plus the WSGI shim, one process) on free ports of
127.0.0.1, seeds the table, and drives load from a separate process (tests/load/loadgen.py).
Every load loop is bounded in time and in request count. It prints a table and writes the
same figures as JSON to .bench/ (git-ignored): bench-<time>.json and latest.json.

Figures:
  rps and p50/p95/p99 latency per scenario and concurrency (closed loop, keep-alive);
  CPU seconds per 1,000 requests in the serving process only (psutil), which does
    not depend on the emulator's speed; the emulator's own CPU is shown for context;
  RSS and USS per worker after warm-up and after the 10,000-user listing;
  time from process start to the first 200 from /readyz;
  shim overhead: in-process (tests/load/inproc.py) shim vs a direct app(event, context) call,
    and `chalice local` vs the serving command on the same requests in the same run;
  where CPU goes: pyinstrument profiles of the hot paths (.bench/profile-*.txt);
  a 1-CPU pod emulation (the server pinned to one core) for several thread counts.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
# Run as a script: the test fixtures' helpers (and the app they import) live here.
sys.path[:0] = [str(REPO / "api"), str(REPO)]
from devtools import emulator as dev_emulator  # noqa: E402
from devtools.emulator import free_port, stop  # noqa: E402
from tests.fixtures.emulator import emulator_env  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT_DIR = REPO / ".bench"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
BUCKET = "users-api-avatars"
TABLE = "users"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
# The serving configuration under test: serve.py's defaults unless overridden. One process
# per pod (the serving command has no workers); SERVER_THREADS request threads.
WORKERS = 1
THREADS = int(os.environ.get("SERVER_THREADS") or 16)

# name -> how to drive it. conc: concurrency levels; duration (s) and max: the bounds of
# each level. The 10,000-user listing is slow on the emulator (moto serializes ~1 ms per
# item), so it runs fewer, count-bounded rounds.
FULL_PLAN: dict[str, dict] = {
    "healthz": {"kind": "get", "path": "/healthz", "conc": [1, 8, 32], "duration": 8,
                "max": 30000, "warmup": 20},
    "users-100": {"kind": "get", "path": "/users", "conc": [1, 8, 32], "duration": 8,
                  "max": 3000, "warmup": 4},
    "users-10k-whole": {"kind": "get", "path": "/users", "conc": [1, 8], "duration": 30,
                        "max_by_conc": {1: 2, 8: 8}, "warmup": 0, "timeout": 300},
    "users-10k-pages": {"kind": "pages", "conc": [1, 8, 32], "duration": 10, "max": 3000,
                        "warmup": 0},
    "post-20KB": {"kind": "post", "image": "small", "conc": [1, 8, 32], "duration": 8,
                  "max": 1500, "warmup": 2},
    "post-2MB": {"kind": "post", "image": "large", "conc": [1, 8, 32], "duration": 10,
                 "max_by_conc": {1: 60, 8: 120, 32: 160}, "warmup": 1},
}
QUICK_PLAN: dict[str, dict] = {
    "healthz": {**FULL_PLAN["healthz"], "duration": 3},
    "users-100": {**FULL_PLAN["users-100"], "conc": [1, 8], "duration": 3},
    "users-10k-whole": {**FULL_PLAN["users-10k-whole"], "conc": [1], "max_by_conc": {1: 1}},
    "users-10k-pages": {**FULL_PLAN["users-10k-pages"], "conc": [8], "duration": 4},
    "post-20KB": {**FULL_PLAN["post-20KB"], "conc": [1, 8], "duration": 3},
    "post-2MB": {**FULL_PLAN["post-2MB"], "conc": [8], "duration": 4,
                 "max_by_conc": {8: 30}},
}
# One CPU for the server (pinned), the emulator and the load generator on the other core.
SWEEP_CONFIGS = [(1, 4), (1, 8), (1, 16), (1, 32)]
SWEEP_SCENARIOS = {
    "healthz": {"kind": "get", "path": "/healthz", "concurrency": 32, "duration": 5,
                "max_requests": 20000, "warmup_requests": 20},
    "post-2MB": {"kind": "post", "image": "large", "concurrency": 8, "duration": 8,
                 "max_requests": 80, "warmup_requests": 1},
}


# -- processes ---------------------------------------------------------------------------

_TEMP_DIRS: list[str] = []


def temp_dir() -> str:
    """A private metrics directory per process tree; removed when the bench ends."""
    _TEMP_DIRS.append(tempfile.mkdtemp(prefix="users-api-bench-"))
    return _TEMP_DIRS[-1]


def start_moto(procs: Processes, port: int) -> subprocess.Popen:
    return procs.add(dev_emulator.start(HOST, port).process)


class Processes:
    """Everything the bench starts; stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def add(self, process: subprocess.Popen) -> subprocess.Popen:
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 30) -> int | None:
        return stop(process, timeout)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


class Tree:
    """A process and its descendants (the serving process has none), for CPU and memory."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu(self) -> dict[int, float]:
        times = {}
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = proc.cpu_times()
                times[proc.pid] = t.user + t.system
        return times

    def memory(self) -> dict:
        def one(proc: psutil.Process) -> dict:
            info = proc.memory_full_info()
            return {"pid": proc.pid, "rss_mb": round(info.rss / 2**20, 1),
                    "uss_mb": round(info.uss / 2**20, 1)}
        # The process that serves: the root itself when it has no children.
        workers = [one(p) for p in self.root.children()] or [one(self.root)]
        return {"master": one(self.root), "workers": workers}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_ready(port: int, process: subprocess.Popen, path: str = "/readyz",
               timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_get(port, path, timeout=2)[0] == 200:
                return
        time.sleep(0.01)
    raise TimeoutError(f"{path} on port {port} not 200 within {timeout}s")


def start_server(procs: Processes, env: dict[str, str], threads: int,
                 cpus: set[int] | None = None) -> tuple[subprocess.Popen, int, float]:
    """Start the serving command; returns (process, port, seconds to the first 200 /readyz)."""
    port = free_port()
    server_env = {**env, "HOST": HOST, "PORT": str(port), "METRICS_PORT": str(free_port()),
                  "SERVER_THREADS": str(threads)}
    log = open(OUT_DIR / "server.log", "ab")  # noqa: SIM115 - kept by the child
    started = time.monotonic()
    process = procs.add(subprocess.Popen(
        [sys.executable, str(REPO / "api" / "serve.py")],
        env=server_env, stdout=subprocess.DEVNULL, stderr=log,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    ))
    wait_ready(port, process)
    ready = time.monotonic() - started
    return process, port, ready


# -- data ----------------------------------------------------------------------------------

def make_images() -> dict[str, Path]:
    """Random-noise PNGs (so they do not compress away): ~20 KB and ~2 MB."""
    rng = random.Random(7)
    paths = {}
    for name, side in (("small", 82), ("large", 836)):
        path = OUT_DIR / f"avatar-{name}.png"
        data = rng.randbytes(side * side * 3)
        Image.frombytes("RGB", (side, side), data).save(path, format="PNG")
        paths[name] = path
    return paths


def clients(endpoint: str):
    return dev_emulator.clients(endpoint, dev_emulator.DEFAULT_REGION)


def seed_users(dynamodb, s3, start: int, stop: int, avatar_base: str, image: Path) -> None:
    """Write users [start, stop) straight into the table (batch_write_item, 8 threads).
    The listing never reads S3, so only the first few users get a real avatar object."""
    real = 5
    for i in range(start, min(stop, real)):
        s3.put_object(Bucket=BUCKET, Key=f"avatars/{i:032x}.png", Body=image.read_bytes(),
                      ContentType="image/png")

    def batch(first: int) -> None:
        items = [{"PutRequest": {"Item": {
            "email": {"S": f"seed{i:05d}@seed.example.org"},
            "name": {"S": f"Seed User {i}"},
            "avatar_url": {"S": f"{avatar_base}/avatars/{i:032x}.png"},
        }}} for i in range(first, min(first + 25, stop))]
        request = {TABLE: items}
        for _ in range(10):
            unprocessed = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
            if not unprocessed:
                return
            request = unprocessed
            time.sleep(0.1)
        raise RuntimeError("batch_write_item kept returning UnprocessedItems")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, range(start, stop, 25)))


def count_users(dynamodb) -> int:
    total, start = 0, None
    while True:
        request = {"TableName": TABLE, "Select": "COUNT"}
        if start:
            request["ExclusiveStartKey"] = start
        response = dynamodb.scan(**request)
        total += response["Count"]
        start = response.get("LastEvaluatedKey")
        if not start:
            return total


# -- load ------------------------------------------------------------------------------------

def drive(spec: dict, cpus: set[int] | None = None) -> dict:
    """Run tests/load/loadgen.py in its own process; returns its report."""
    budget = spec["duration"] + spec.get("request_timeout", 120) + 60
    result = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py")], input=json.dumps(spec),
        capture_output=True, text=True, timeout=budget, check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


class PeakRss:
    """Samples the workers' RSS in the background while a load run goes on."""

    def __init__(self, server: Tree, interval: float = 0.25) -> None:
        self.server, self.interval = server, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.server.processes()[1:]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.peak = max(self.peak, proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measured(spec: dict, server: Tree, emulator: Tree, cpus: set[int] | None = None) -> dict:
    api0, emu0 = server.cpu(), emulator.cpu()
    with PeakRss(server) as peak:
        report = drive(spec, cpus)
    api_cpu, emu_cpu = cpu_delta(api0, server.cpu()), cpu_delta(emu0, emulator.cpu())
    report["peak_worker_rss_mb"] = round(peak.peak / 2**20, 1)
    report["loadavg_1m"] = round(os.getloadavg()[0], 2)
    n = report["requests"] + spec.get("warmup_requests", 0)
    report["api_cpu_s"] = round(api_cpu, 3)
    report["api_cpu_s_per_1k"] = round(api_cpu / n * 1000, 3) if n else None
    report["emulator_cpu_s_per_1k"] = round(emu_cpu / n * 1000, 3) if n else None
    return report


def scenario_specs(name: str, plan: dict, port: int, images: dict[str, Path], run_id: str):
    for conc in plan["conc"]:
        spec = {
            "port": port, "kind": plan["kind"], "path": plan.get("path", "/users"),
            "concurrency": conc, "duration": plan["duration"],
            "max_requests": plan.get("max_by_conc", {}).get(conc, plan.get("max", 1000)),
            "warmup_requests": plan.get("warmup", 0),
            "request_timeout": plan.get("timeout", 120),
            "expect": [201] if plan["kind"] == "post" else [200],
            "page_limit": 100,
            "email_prefix": f"{run_id}-{name}-c{conc}",
        }
        if plan["kind"] == "post":
            spec["avatar_file"] = str(images[plan["image"]])
        yield conc, spec


def settle(emulator: Tree, idle_share: float = 0.1, limit_s: float = 180) -> None:
    """Wait until the emulator is idle: requests that timed out in the previous level keep it
    busy for a while, and that work must not be charged to the next one. Bounded in time."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = emulator.cpu()
        time.sleep(1)
        if cpu_delta(before, emulator.cpu()) < idle_share:
            return
    print(f"  note: the emulator was still busy after {limit_s:.0f} s", flush=True)


def run_scenario(name: str, plan: dict, port: int, images: dict[str, Path], run_id: str,
                 server: Tree, emulator: Tree) -> list[dict]:
    rows = []
    for conc, spec in scenario_specs(name, plan, port, images, run_id):
        settle(emulator)
        report = measured(spec, server, emulator)
        row = {"scenario": name, "concurrency": conc, **report}
        rows.append(row)
        print_row(row)
    return rows


# -- in-process ----------------------------------------------------------------------------

def inproc(env: dict[str, str], tasks: list[dict]) -> dict:
    out = OUT_DIR / "inproc.json"
    subprocess.run([sys.executable, str(HERE / "inproc.py"), json.dumps(tasks), str(out)],
                   env=env, check=True, timeout=900, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


# -- output ------------------------------------------------------------------------------------

COLUMNS = [("scenario", 16), ("c", 3), ("requests", 8), ("rps", 8), ("p50 ms", 9),
           ("p95 ms", 9), ("p99 ms", 9), ("non-2xx", 7), ("API CPU s/1k", 12),
           ("emulator CPU s/1k", 17), ("peak RSS MB", 11)]


def header() -> str:
    return "  ".join(f"{title:>{width}}" if i else f"{title:<{width}}"
                     for i, (title, width) in enumerate(COLUMNS))


def fmt(value, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        text = f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"
        return f"{text:>{width}}"
    return f"{value!s:>{width}}"


def row_text(row: dict) -> str:
    lat = row["latency_ms"]
    bad = row["unexpected_statuses"] + sum(row["errors"].values())
    values = [row["scenario"], row["concurrency"], row["requests"], row["rps"], lat["p50"],
              lat["p95"], lat["p99"], bad, row["api_cpu_s_per_1k"], row["emulator_cpu_s_per_1k"],
              row["peak_worker_rss_mb"]]
    cells = [f"{values[0]:<{COLUMNS[0][1]}}"]
    cells += [fmt(v, w) for v, (_, w) in zip(values[1:], COLUMNS[1:], strict=True)]
    return "  ".join(cells)


_printed_header = False


def print_row(row: dict) -> None:
    global _printed_header
    if not _printed_header:
        print(header(), flush=True)
        _printed_header = True
    print(row_text(row), flush=True)


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    from importlib.metadata import version
    for dist in ("waitress", "chalice", "boto3", "moto", "pillow"):
        with contextlib.suppress(Exception):
            versions[dist] = version(dist)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"cores": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform(terse=True),
            "versions": versions, "commit": commit}


def print_report(results: dict) -> None:
    out = print
    cfg = results["config"]
    out("\n" + "=" * 100)
    out(f"users-api bench ({'quick' if results['quick'] else 'full'}) on "
        f"{results['machine']['cores']} cores, {results['machine']['cpu_model']}; "
        f"waitress, {cfg['workers']} process x {cfg['threads']} threads; "
        f"emulator: moto server {results['machine']['versions'].get('moto', '?')}")
    out("=" * 100)
    out(header())
    for row in results["load"]:
        out(row_text(row))
    for row in results["load"]:
        if row["unexpected_statuses"] or row["errors"]:
            out(f"  note: {row['scenario']} c={row['concurrency']}: statuses {row['statuses']}, "
                f"client errors {row['errors'] or 'none'}" + (
                    " (503 = the app's fail-fast backend timeouts: read 5 s x 3 attempts; the "
                    "emulator is slower than that per Scan page under this load)"
                    if "503" in row["statuses"] else ""))
    s = results["startup_s"]
    out(f"\nStart-up, process start -> first 200 /readyz: median {s['median']:.2f} s "
        f"(min {s['min']:.2f}, max {s['max']:.2f}, n={len(s['runs'])})")
    for label, key in (("after warm-up", "after_warmup"), ("after 10k listing", "after_10k")):
        mem = results["memory"][key]
        workers = ", ".join(f"{w['rss_mb']:.0f}/{w['uss_mb']:.0f}" for w in mem["workers"])
        out(f"Memory {label:<18} worker RSS/USS MB: {workers}; "
            f"master RSS {mem['master']['rss_mb']:.0f} MB")
    out("\nShim overhead, in-process (per request, shim = ChaliceWSGIAdapter, "
        "direct = app(event, context)):")
    for name, o in results["shim_inprocess"].items():
        out(f"  {name:<12} CPU: shim {o['shim_cpu_us']:>7.0f} us vs direct "
            f"{o['direct_cpu_us']:>7.0f} us (+{o['overhead_cpu_us']:.0f} us), ratio "
            f"{o['ratio_cpu']:.2f}   "
            f"(wall: {o['shim_us']:.0f} vs {o['direct_us']:.0f} us, ratio {o['ratio_wall']:.2f})")
    out("chalice local vs the serving command + shim, same GETs in this run, a new connection "
        "per request (server -> chalice local; ratio = chalice local / server):")
    for c in results["chalice_local"]["rows"]:
        g, cl = c["server"], c["chalice_local"]
        out(f"  GET {c['path']:<9} c={c['concurrency']:<2} server CPU s/1k "
            f"{g['api_cpu_s_per_1k']} -> {cl['api_cpu_s_per_1k']} (x{c['cpu_ratio']}); "
            f"rps {g['rps']} -> {cl['rps']} (x{c['rps_ratio']}); p50 "
            f"{g['latency_ms']['p50']} -> {cl['latency_ms']['p50']} ms (x{c['p50_ratio']})")
    ka = results["chalice_local"]["chalice_local_keepalive_healthz_c1"]
    out(f"  (chalice local, kept-alive connection, GET /healthz c=1: p50 "
        f"{ka['latency_ms']['p50']} ms: headers and body go out in two sends and wait for "
        "the client's delayed ACK)")
    out("\nWhere CPU goes (pyinstrument, in-process through the shim; share of busy time by "
        "package; wait = share of wall time waiting on the emulator; .bench/profile-*.txt):")
    for name, p in results["profiles"].items():
        top = ", ".join(f"{k} {v}%" for k, v in list(p["percent_of_busy_time"].items())[:6])
        out(f"  {name:<16} {p['cpu_ms_per_request']:>8.2f} ms CPU/req, wait "
            f"{p['waiting_percent_of_wall']:>4.1f}%: {top}")
    if results.get("one_cpu_sweep"):
        out("\n1-CPU pod emulation (the server pinned to 1 core; emulator and load on the other):")
        out(f"  {'workers x threads':<18} {'scenario':<10} {'c':>3} {'rps':>8} {'p50 ms':>9} "
            f"{'p99 ms':>9} {'non-2xx':>7} {'API CPU s/1k':>12} {'worker USS MB':>14}")
        for r in results["one_cpu_sweep"]:
            lat = r["latency_ms"]
            bad = r["unexpected_statuses"] + sum(r["errors"].values())
            out(f"  {r['config']:<18} {r['scenario']:<10} {r['concurrency']:>3} "
                f"{fmt(r['rps'], 8)} {fmt(lat['p50'], 9)} {fmt(lat['p99'], 9)} {bad:>7} "
                f"{fmt(r['api_cpu_s_per_1k'], 12)} {fmt(r['worker_uss_mb'], 14)}")
    la = results["loadavg_1m"]
    out(f"\nJSON: {results['json_file']}   total time: {results['total_s']:.0f} s   "
        f"load average (1 min) at start/end: {la['start']}/{la['end']} on "
        f"{results['machine']['cores']} cores (other work on the machine skews rps and latency; "
        "CPU s/1k much less)")


# -- main ------------------------------------------------------------------------------------

def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "server.log").unlink(missing_ok=True)
    plan = QUICK_PLAN if QUICK else FULL_PLAN
    run_started = time.monotonic()
    loadavg_start = round(os.getloadavg()[0], 2)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    procs = Processes()
    results: dict = {"quick": QUICK, "started": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": machine(), "config": {"workers": WORKERS, "threads": THREADS},
                     "load": []}
    print(f"bench: {'quick' if QUICK else 'full'} run, waitress {WORKERS}x{THREADS}; "
          f"figures -> {OUT_DIR.relative_to(REPO)}/", flush=True)
    try:
        moto_port = free_port()
        moto = start_moto(procs, moto_port)
        endpoint = f"http://{HOST}:{moto_port}"
        emulator = Tree(moto.pid)
        avatar_base = f"{endpoint}/{BUCKET}"
        env = emulator_env(endpoint, AVATAR_BASE_URL=avatar_base, LOG_LEVEL="INFO",
                           USERS_TABLE=TABLE, AVATARS_BUCKET=BUCKET)
        # The table and the bucket, created the way `make run` creates them.
        dev_emulator.bootstrap(endpoint, env)
        dynamodb, s3 = clients(endpoint)
        images = make_images()

        # Start-up: a few extra cold starts, then the server everything else runs against.
        startups = []
        for _ in range(1 if QUICK else 2):
            process, _, ready = start_server(procs, env, THREADS)
            startups.append(round(ready, 3))
            procs.stop(process)
        process, port, ready = start_server(procs, env, THREADS)
        startups.append(round(ready, 3))
        results["startup_s"] = {"runs": startups, "median": statistics.median(startups),
                                "min": min(startups), "max": max(startups)}
        server = Tree(process.pid)
        print(f"ready in {startups} s; seeding 100 users", flush=True)

        seed_users(dynamodb, s3, 0, 100, avatar_base, images["small"])
        status, _, body = http_get(port, "/users")
        assert status == 200 and len(json.loads(body)) == 100, "seeding 100 users failed"

        print("in-process shim overhead and profiles (100 users)", flush=True)
        iters = 300 if QUICK else 1000
        phase_a = inproc(env, [
            {"name": "healthz", "mode": "overhead", "kind": "get", "path": "/healthz",
             "iterations": iters, "rounds": 5},
            {"name": "users-100", "mode": "overhead", "kind": "get", "path": "/users",
             "iterations": 10 if QUICK else 60, "rounds": 3},
            {"name": "healthz", "mode": "profile", "kind": "get", "path": "/healthz",
             "iterations": iters * 2},
            {"name": "users-100", "mode": "profile", "kind": "get", "path": "/users",
             "iterations": 10 if QUICK else 30},
        ])

        for name in ("healthz", "users-100"):
            results["load"] += run_scenario(name, plan[name], port, images, run_id,
                                            server, emulator)
        results["memory"] = {"after_warmup": server.memory()}

        print("chalice local on the same requests", flush=True)
        results["chalice_local"] = compare_chalice_local(procs, env, server, port, emulator)

        print("seeding up to 10,000 users", flush=True)
        t0 = time.monotonic()
        seed_users(dynamodb, s3, 100, 10_000, avatar_base, images["small"])
        assert count_users(dynamodb) == 10_000
        print(f"seeded in {time.monotonic() - t0:.1f} s", flush=True)
        for name in ("users-10k-whole", "users-10k-pages"):
            results["load"] += run_scenario(name, plan[name], port, images, run_id,
                                            server, emulator)
        results["memory"]["after_10k"] = server.memory()

        print("in-process profiles (10,000 users, POST)", flush=True)
        whole = [] if QUICK else [  # one listing costs ~10-25 s on the emulator
            {"name": "users-10k-whole", "mode": "profile", "kind": "get", "path": "/users",
             "iterations": 1}]
        phase_b = inproc(env, [
            {"name": "users-10k-page", "mode": "profile", "kind": "get", "path": "/users",
             "query": "limit=100", "iterations": 5 if QUICK else 20},
            *whole,
            {"name": "post-20KB", "mode": "overhead", "kind": "post",
             "avatar_file": str(images["small"]), "iterations": 10 if QUICK else 40, "rounds": 3,
             "expect": 201},
            {"name": "post-20KB", "mode": "profile", "kind": "post",
             "avatar_file": str(images["small"]), "iterations": 10 if QUICK else 40},
            {"name": "post-2MB", "mode": "profile", "kind": "post",
             "avatar_file": str(images["large"]), "iterations": 3 if QUICK else 10},
        ])
        results["shim_inprocess"] = {**phase_a["overhead"], **phase_b["overhead"]}
        results["profiles"] = {**phase_a["profile"], **phase_b["profile"]}

        for name in ("post-20KB", "post-2MB"):
            results["load"] += run_scenario(name, plan[name], port, images, run_id,
                                            server, emulator)
        procs.stop(process)

        if not QUICK:
            print("1-CPU pod emulation", flush=True)
            results["one_cpu_sweep"] = one_cpu_sweep(procs, env, images, run_id, moto.pid,
                                                     emulator)
    finally:
        procs.stop_all()
        for path in _TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)

    results["total_s"] = round(time.monotonic() - run_started, 1)
    results["loadavg_1m"] = {"start": loadavg_start, "end": round(os.getloadavg()[0], 2)}
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    json_file = OUT_DIR / f"bench-{stamp}.json"
    results["json_file"] = str(json_file.relative_to(REPO))
    text = json.dumps(results, indent=2)
    json_file.write_text(text)
    (OUT_DIR / "latest.json").write_text(text)
    print_report(results)
    return 0


def compare_chalice_local(procs: Processes, env: dict[str, str], server: Tree, port: int,
                          emulator: Tree) -> dict:
    """The same GETs against the serving command (the shim) and `chalice local`, in turn.

    A new connection per request: chalice local's handler writes the headers and the body
    in two sends, so on a kept-alive connection every response after the first waits
    ~40 ms for the client's delayed ACK (measured once below), which would drown the
    comparison of the servers' own costs."""
    local_port = free_port()
    process = procs.add(subprocess.Popen(
        [str(BIN / "chalice"), "local", "--host", HOST, "--port", str(local_port),
         "--no-autoreload"],
        cwd=REPO / "api", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    duration = 2 if QUICK else 5
    rows = []
    try:
        wait_ready(local_port, process, "/healthz")
        # chalice local makes the AWS clients on first use; the server's wsgi.py at import.
        wait_ready(local_port, process, "/readyz")
        local = Tree(process.pid)
        for path, conc in (("/healthz", 1), ("/healthz", 8), ("/users", 1), ("/users", 8)):
            spec = {"kind": "get", "path": path, "concurrency": conc, "duration": duration,
                    "max_requests": 5000, "warmup_requests": 2, "close": True}
            ours = measured({**spec, "port": port}, server, emulator)
            theirs = measured({**spec, "port": local_port}, local, emulator)
            rows.append({
                "path": path, "concurrency": conc, "connection": "close",
                "server": ours, "chalice_local": theirs,
                "cpu_ratio": _ratio(theirs["api_cpu_s_per_1k"], ours["api_cpu_s_per_1k"]),
                "rps_ratio": _ratio(theirs["rps"], ours["rps"]),
                "p50_ratio": _ratio(theirs["latency_ms"]["p50"], ours["latency_ms"]["p50"]),
            })
        keepalive = measured({"kind": "get", "path": "/healthz", "concurrency": 1,
                              "duration": 2, "max_requests": 200, "warmup_requests": 2,
                              "port": local_port}, local, emulator)
    finally:
        procs.stop(process)
    return {"rows": rows, "chalice_local_keepalive_healthz_c1": keepalive}


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a and b else None


def one_cpu_sweep(procs: Processes, env: dict[str, str], images: dict[str, Path], run_id: str,
                  moto_pid: int, emulator: Tree) -> list[dict]:
    rows = []
    moto = psutil.Process(moto_pid)
    all_cpus = moto.cpu_affinity()
    if len(all_cpus) < 2:
        return rows
    app_cpus, other_cpus = {all_cpus[0]}, set(all_cpus[1:])
    moto.cpu_affinity(sorted(other_cpus))
    try:
        for workers, threads in SWEEP_CONFIGS:
            process, port, _ = start_server(procs, env, threads, cpus=app_cpus)
            server = Tree(process.pid)
            for name, base in SWEEP_SCENARIOS.items():
                spec = {**{k: v for k, v in base.items() if k != "image"}, "port": port,
                        "expect": [201] if base["kind"] == "post" else [200],
                        "email_prefix": f"{run_id}-sweep-{workers}x{threads}-{name}"}
                if base["kind"] == "post":
                    spec["avatar_file"] = str(images[base["image"]])
                report = measured(spec, server, emulator, cpus=other_cpus)
                uss = [w["uss_mb"] for w in server.memory()["workers"]]
                rows.append({"config": f"{workers} x {threads}", "scenario": name,
                             "concurrency": spec["concurrency"],
                             "worker_uss_mb": round(statistics.mean(uss), 1), **report})
            procs.stop(process)
    finally:
        moto.cpu_affinity(all_cpus)
    return rows


if __name__ == "__main__":
    sys.exit(main())
