#!/usr/bin/env python3
"""Build, measure and run the users-api image with whichever container engine works.

  python container/image.py build   build the image (docker if its daemon answers, else podman)
  python container/image.py bench   build, then print the image size, the build time and the
                                    time from `run` to the first 200 on /readyz (against a moto
                                    server it starts), and how long SIGTERM takes to stop it
  python container/image.py run     run the image in the foreground against the embedded
                                    emulator (or AWS_ENDPOINT_URL if set); Ctrl-C stops it

The container always runs the way the chart runs it: read-only root filesystem, UID/GID
10001, all capabilities dropped, no privilege escalation, and a tmpfs on /tmp as the only
writable path. It shares the host's network (Linux), so it listens on the host's PORT.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
# Run as container/image.py, or imported as container.image: the repo root and api/ (for the
# dev-only emulator module, devtools.emulator) must both be importable.
sys.path[:0] = [p for p in (str(_REPO), str(_REPO / "api")) if p not in sys.path]
from chalicelib import config as app_config  # noqa: E402
from container import podman_env  # noqa: E402
from devtools import emulator as dev_emulator  # noqa: E402

REPO = podman_env.REPO
DOCKERFILE = podman_env.DOCKERFILE
DEFAULT_TAG = "users-api:dev"
APP_UID = 10001
APP_PORT = 8000
# The chart's pod securityContext, as engine flags.
HARDENING = ("--read-only", "--user", f"{APP_UID}:{APP_UID}", "--cap-drop", "ALL",
             "--security-opt", "no-new-privileges",
             "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777,size=64m")  # noqa: S108


def _log(msg: str) -> None:
    print(f"[image] {msg}", file=sys.stderr, flush=True)


# BuildKit: RUN --mount, and container/Dockerfile.dockerignore next to the Dockerfile.
BUILD_ENV = {"DOCKER_BUILDKIT": "1"}


def build_command(engine: str, tag: str, *, platform: str | None = None,
                  base_image: str | None = None, no_cache: bool = False) -> list[str]:
    """The engine's argv that builds container/Dockerfile; run it from the repository root.

    Shared by `make image` (docker) and the deploy flow. base_image None keeps the Dockerfile's
    own BASE_IMAGE; platform (e.g. linux/amd64) pins the target architecture. The image labels
    (version, git revision, source) are build args either way.
    """
    cmd = [engine, "build", "--file", str(DOCKERFILE.relative_to(REPO)), "--tag", tag]
    if platform:
        cmd += ["--platform", platform]
    if engine == "podman":  # buildah does not look for <Dockerfile>.dockerignore by itself
        cmd += ["--ignorefile", str(podman_env.IGNOREFILE.relative_to(REPO))]
    cmd += podman_env.build_args(base_image)
    if no_cache:
        cmd.append("--no-cache")
    cmd.append(".")
    return cmd


@dataclass
class Engine:
    """A container engine command (docker or podman) with the environment it needs."""

    name: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __call__(self, *args: str, check: bool = True, capture: bool = True,
                 timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed executable, arguments are ours
            [self.name, *args], check=check, text=True, env=self.env, timeout=timeout,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )

    # -- build ---------------------------------------------------------------------------
    def build(self, tag: str = DEFAULT_TAG, *, no_cache: bool = False) -> float:
        """Build container/Dockerfile from the repo root; return the seconds it took."""
        if self.name == "podman":
            return podman_env.build(tag, no_cache=no_cache)
        cmd = build_command(self.name, tag, base_image=os.environ.get("USERS_API_BASE_IMAGE"),
                            no_cache=no_cache)
        _log(f"$ {' '.join(cmd)}")
        started = time.monotonic()
        env = {**self.env, **BUILD_ENV}
        subprocess.run(cmd, check=True, env=env, cwd=REPO)  # noqa: S603
        elapsed = time.monotonic() - started
        _log(f"built {tag} in {elapsed:.1f}s")
        return elapsed

    def image_size(self, tag: str) -> int:
        out = self("image", "inspect", "--format", "{{.Size}}", tag).stdout
        return int(out.strip())

    def image_config(self, tag: str) -> dict:
        out = self("image", "inspect", tag).stdout
        data = json.loads(out)[0]
        return data.get("Config") or data.get("config") or {}

    # -- containers ----------------------------------------------------------------------
    def run_detached(self, tag: str, *, name: str, port: int, env: dict[str, str],
                     extra: Sequence[str] = ()) -> None:
        env_args = [arg for key, value in {**env, "PORT": str(port)}.items()
                    for arg in ("--env", f"{key}={value}")]
        self("run", "--detach", "--name", name, *HARDENING, "--network", "host",
             *env_args, *extra, tag, timeout=120)

    def logs(self, name: str) -> str:
        proc = self("logs", name, check=False)
        return (proc.stdout or "") + (proc.stderr or "")

    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("exec", name, *cmd, check=check, timeout=60)

    def kill(self, name: str, sig: str = "TERM") -> None:
        self("kill", "--signal", sig, name, timeout=30)

    def wait(self, name: str, timeout: float = 60) -> int:
        out = self("wait", name, timeout=timeout).stdout.strip().splitlines()
        return int(out[-1])

    def running(self, name: str) -> bool:
        proc = self("inspect", "--format", "{{.State.Running}}", name, check=False)
        return proc.stdout.strip() == "true"

    def remove(self, name: str) -> None:
        self("rm", "--force", name, check=False, timeout=60)


def docker_usable() -> tuple[bool, str]:
    if shutil.which("docker") is None:
        return False, "docker is not installed"
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, text=True,  # noqa: S607
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker info failed: {exc}"
    if proc.returncode != 0:
        return False, "docker client present but no reachable daemon (docker info failed)"
    return True, ""


def detect_engine(prefer: Sequence[str] = ("docker", "podman")) -> tuple[Engine | None, str]:
    """The first working engine in `prefer` order, or (None, why none works)."""
    reasons = []
    for name in prefer:
        if name == "podman":
            ok, why = podman_env.podman_usable()
            if ok:
                return Engine("podman", podman_env.podman_environ()), ""
        else:
            ok, why = docker_usable()
            if ok:
                return Engine("docker"), ""
        reasons.append(f"{name}: {why}")
    return None, "no working container engine (" + "; ".join(reasons) + ")"


# -- helpers shared with the tests ----------------------------------------------------------
free_port = dev_emulator.free_port


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for_status(url: str, status: int = 200, timeout: float = 60.0,
                    alive: Callable[[], bool] | None = None) -> float:
    """Poll url until it answers `status`; return when that happened (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(url, timeout=1.0) == status:
            return time.monotonic()
        if alive is not None and not alive():
            raise RuntimeError(f"the container exited before {url} answered {status}")
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout:.0f}s")


@contextmanager
def emulator(port: int | None = None) -> Iterator[str]:
    """A moto server on 127.0.0.1 with the table and bucket created; yields its URL.
    An emulator already listening on `port` is used (and bootstrapped), not replaced."""
    if port and dev_emulator.port_in_use(dev_emulator.DEFAULT_HOST, port):
        endpoint = f"http://{dev_emulator.DEFAULT_HOST}:{port}"
        _log(f"using the emulator already listening on {endpoint}")
        dev_emulator.bootstrap(endpoint)
        yield endpoint
        return
    with dev_emulator.running(port=port) as running:
        yield running.endpoint


def app_env(endpoint: str) -> dict[str, str]:
    return dev_emulator.client_env(endpoint)


# -- commands -------------------------------------------------------------------------------
def cmd_build(args: argparse.Namespace) -> int:
    engine = _engine()
    engine.build(args.tag, no_cache=args.no_cache)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    engine = _engine()
    build_s = engine.build(args.tag, no_cache=args.no_cache)
    size = engine.image_size(args.tag)
    name = f"users-api-bench-{os.getpid()}"
    port = free_port()
    with emulator() as endpoint:
        try:
            started = time.monotonic()
            engine.run_detached(args.tag, name=name, port=port, env=app_env(endpoint))
            ready_at = wait_for_status(f"http://127.0.0.1:{port}/readyz",
                                       alive=lambda: engine.running(name))
            ready_s = ready_at - started
            stop_started = time.monotonic()
            engine.kill(name, "TERM")
            exit_code = engine.wait(name)
            stop_s = time.monotonic() - stop_started
        except BaseException:
            print(engine.logs(name), file=sys.stderr)
            raise
        finally:
            engine.remove(name)
    result = {
        "engine": engine.name, "image": args.tag, "size_bytes": size,
        "size_mb": round(size / 1e6, 1), "build_seconds": round(build_s, 1),
        "start_to_ready_seconds": round(ready_s, 2), "sigterm_to_exit_seconds": round(stop_s, 2),
        "exit_code": exit_code,
    }
    out = REPO / ".bench" / "image.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"image       {args.tag} ({engine.name})")
    print(f"size        {result['size_mb']} MB ({size} bytes, uncompressed)")
    print(f"build       {result['build_seconds']} s")
    print(f"start->ready {result['start_to_ready_seconds']} s  (engine run to first 200 /readyz)")
    print(f"SIGTERM->exit {result['sigterm_to_exit_seconds']} s  (exit code {exit_code})")
    print(f"written to  {out.relative_to(REPO)}")
    return 0 if exit_code == 0 else 1


def cmd_run(args: argparse.Namespace) -> int:
    engine = _engine()
    if not args.no_build:
        engine.build(args.tag)
    port = int(os.environ.get("PORT", APP_PORT))
    name = "users-api-local"
    engine.remove(name)

    def serve(endpoint: str) -> int:
        env = app_env(endpoint)
        if os.environ.get("AWS_ENDPOINT_URL"):
            # Another emulator (or real AWS): pass the caller's settings through.
            env = {k: v for k, v in os.environ.items() if _passed_through(k)}
        env_args = [a for k, v in {**env, "PORT": str(port)}.items() for a in ("--env", f"{k}={v}")]
        print(f"serving http://127.0.0.1:{port} (Ctrl-C stops it)", file=sys.stderr)
        cmd = [engine.name, "run", "--rm", "--name", name, *HARDENING, "--network", "host",
               *env_args, args.tag]
        proc = subprocess.Popen(cmd, env=engine.env)  # noqa: S603
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # SIGTERM to the container, as Kubernetes does: the server drains and exits 0.
            engine("stop", "--time", "30", name, check=False, timeout=60)
            try:
                return proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return 1

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    if os.environ.get("AWS_ENDPOINT_URL"):
        return serve(os.environ["AWS_ENDPOINT_URL"])
    with emulator(int(os.environ.get("EMULATOR_PORT", "4566"))) as endpoint:
        return serve(endpoint)


def _passed_through(name: str) -> bool:
    """The caller's variables a container gets: the SDK's (AWS_*), the app's settings (the
    names chalicelib.config declares) and the server's knobs (SERVER_*). Where the server binds
    is the image's own (its ENV), never the host's."""
    if name in ("HOST", "PORT"):
        return False
    return name.startswith(("AWS_", "SERVER_")) or name in app_config.VARIABLES


def _engine() -> Engine:
    prefer = os.environ.get("CONTAINER_ENGINE")
    engine, why = detect_engine((prefer,) if prefer else ("docker", "podman"))
    if engine is None:
        raise SystemExit(why)
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=os.environ.get("CONTAINER_IMAGE", DEFAULT_TAG))
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, func in (("build", cmd_build), ("bench", cmd_bench), ("run", cmd_run)):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        if name in ("build", "bench"):
            p.add_argument("--no-cache", action="store_true")
        else:
            p.add_argument("--no-build", action="store_true", help="run the existing image")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
