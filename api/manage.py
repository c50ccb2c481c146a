"""Operator and developer commands for users-api.

  python api/manage.py bootstrap        create the table and bucket in an emulator (idempotent)
  python api/manage.py sweep-orphans    list (or --apply: delete) avatars that no user references
  python api/manage.py run-local        embedded emulator + bootstrap + the production serving command
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

API_DIR = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent
# Placeholder credentials for the local emulator only: it checks nothing, but the SDK
# needs some to sign requests. Real deployments use the default credential chain.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-emulator", "AWS_SECRET_ACCESS_KEY": "local-emulator"}


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from chalicelib.config import get_settings
    from chalicelib.provisioning import bootstrap

    settings = get_settings()
    bootstrap(settings)
    print(f"ready: table {settings.users_table!r}, bucket {settings.avatars_bucket!r}")
    return 0


def cmd_sweep_orphans(args: argparse.Namespace) -> int:
    from chalicelib.wiring import get_service

    report = get_service().sweep_orphans(timedelta(minutes=args.grace_minutes), apply=args.apply)
    print(json.dumps({
        "mode": "apply" if args.apply else "dry-run",
        "grace_minutes": args.grace_minutes,
        "objects_older_than_grace": report.scanned,
        "referenced_by_users": report.referenced,
        "orphans": report.orphans,
        "deleted": report.deleted,
    }, indent=2))
    if report.orphans and not args.apply:
        print("dry run: nothing deleted; run again with --apply to delete them", file=sys.stderr)
    return 0


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - local URL only
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def cmd_run_local(args: argparse.Namespace) -> int:
    endpoint = f"http://{args.emulator_host}:{args.emulator_port}"
    if port_in_use(args.emulator_host, args.emulator_port):
        print(f"{endpoint} is already taken (LocalStack, or another `make run`?).\n"
              "Stop it, or serve against it with: "
              f"AWS_ENDPOINT_URL={endpoint} make serve", file=sys.stderr)
        return 1
    env = {
        **os.environ,
        **EMULATOR_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
    }
    bucket = env.get("AVATARS_BUCKET", "users-api-avatars")
    env.setdefault("AVATAR_BASE_URL", f"{endpoint}/{bucket}")
    children: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        emulator = subprocess.Popen(
            [str(BIN_DIR / "moto_server"), "-H", args.emulator_host, "-p", str(args.emulator_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(emulator)
        wait_for_http(f"{endpoint}/moto-api/", timeout=30, process=emulator)
        subprocess.run([sys.executable, str(API_DIR / "manage.py"), "bootstrap"], env=env, check=True)
        host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
        print(f"emulator on {endpoint}; API on http://{host}:{port} "
              f"(Swagger UI: http://{host}:{port}/swagger). Ctrl-C stops both.", flush=True)
        server = subprocess.Popen(
            [str(BIN_DIR / "gunicorn"), "--config", str(API_DIR / "gunicorn.conf.py")], env=env)
        children.append(server)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(API_DIR))
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="create the table and bucket (emulators only)"
                        ).set_defaults(func=cmd_bootstrap)
    sweep = commands.add_parser("sweep-orphans", help="find avatars no user references")
    sweep.add_argument("--apply", action="store_true", help="delete them (default: dry run)")
    sweep.add_argument("--grace-minutes", type=int, default=60,
                       help="only objects older than this are candidates (default 60)")
    sweep.set_defaults(func=cmd_sweep_orphans)
    run = commands.add_parser("run-local", help="emulator + bootstrap + API, Ctrl-C stops all")
    run.add_argument("--emulator-host", default="127.0.0.1")
    run.add_argument("--emulator-port", type=int, default=4566)
    run.set_defaults(func=cmd_run_local)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
