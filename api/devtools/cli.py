"""Development commands (not shipped in the image; the operator's commands are in manage.py).

  python api/devtools/cli.py bootstrap    create the table and bucket in the emulator that
                                          AWS_ENDPOINT_URL points at (idempotent)
  python api/devtools/cli.py run-local    embedded emulator + bootstrap + the production
                                          serving command (`make run`); Ctrl-C stops all
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1]
if str(API_DIR) not in sys.path:  # run as a script: make `chalicelib` and `devtools` importable
    sys.path.insert(0, str(API_DIR))

from devtools import emulator  # noqa: E402


def cmd_bootstrap(args: argparse.Namespace) -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print("bootstrap creates resources in an emulator only: set AWS_ENDPOINT_URL",
              file=sys.stderr)
        return 2
    settings = emulator.bootstrap(endpoint)
    print(f"ready: table {settings.users_table!r}, bucket {settings.avatars_bucket!r}")
    return 0


def cmd_run_local(args: argparse.Namespace) -> int:
    host, port = args.emulator_host, args.emulator_port
    endpoint = f"http://{host}:{port}"
    if emulator.port_in_use(host, port):
        print(f"{endpoint} is already taken (LocalStack, or another `make run`?).\n"
              "Stop it, or serve against it with: "
              f"AWS_ENDPOINT_URL={endpoint} make serve", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server: subprocess.Popen | None = None
    try:
        with emulator.running(host, port) as emu:
            env = {**os.environ, **emulator.client_env(emu.endpoint)}
            settings = emulator.settings_from_env(env)
            env.setdefault("AVATAR_BASE_URL", f"{emu.endpoint}/{settings.avatars_bucket}")
            api_host, api_port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
            print(f"emulator on {emu.endpoint}; API on http://{api_host}:{api_port} "
                  f"(Swagger UI: http://{api_host}:{api_port}/swagger). Ctrl-C stops both.",
                  flush=True)
            server = subprocess.Popen(  # noqa: S603 - the venv's own gunicorn
                [str(emulator.BIN_DIR / "gunicorn"), "--config", str(API_DIR / "gunicorn.conf.py")],
                env=env)
            try:
                return server.wait()
            finally:
                emulator.stop(server, timeout=25)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devtools/cli.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="create the table and bucket (emulators only)"
                        ).set_defaults(func=cmd_bootstrap)
    run = commands.add_parser("run-local", help="emulator + bootstrap + API, Ctrl-C stops all")
    run.add_argument("--emulator-host", default=emulator.DEFAULT_HOST)
    run.add_argument("--emulator-port", type=int, default=emulator.DEFAULT_PORT)
    run.set_defaults(func=cmd_run_local)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
