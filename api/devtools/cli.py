"""Development commands (not shipped in the image; the operator's commands are in manage.py).

  python api/devtools/cli.py bootstrap    create the table and bucket in the emulator that
                                          AWS_ENDPOINT_URL points at (idempotent)
  python api/devtools/cli.py run-local    embedded emulator + bootstrap + the dev avatar
                                          server + the production serving command
                                          (`make run`); Ctrl-C stops all
  python api/devtools/cli.py run-env      the exports that point a second terminal at
                                          `make run`'s emulator (`eval "$(make -s run-env)"`)
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1]
if str(API_DIR) not in sys.path:  # run as a script: make `chalicelib` and `devtools` importable
    sys.path.insert(0, str(API_DIR))

from devtools import emulator  # noqa: E402
from devtools.avatar_server import start_avatar_server  # noqa: E402

SERVE_COMMAND = [sys.executable, str(API_DIR / "serve.py")]
DEFAULT_AVATAR_PORT = 8001


def cmd_bootstrap(args: argparse.Namespace) -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print("bootstrap creates resources in an emulator only: set AWS_ENDPOINT_URL",
              file=sys.stderr)
        return 2
    settings = emulator.bootstrap(endpoint)
    print(f"ready: table {settings.users_table!r}, bucket {settings.avatars_bucket!r}")
    return 0


def _avatar_base_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def cmd_run_local(args: argparse.Namespace) -> int:
    host, port = args.emulator_host, args.emulator_port
    endpoint = f"http://{host}:{port}"
    if emulator.port_in_use(host, port):
        print(f"{endpoint} is already taken (LocalStack, or another `make run`?).\n"
              "Stop it, or serve against it with: "
              f"AWS_ENDPOINT_URL={endpoint} make serve", file=sys.stderr)
        return 1
    if emulator.port_in_use(host, args.avatar_port):
        print(f"port {args.avatar_port} (the avatar server's) is taken: set AVATAR_PORT",
              file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server: subprocess.Popen | None = None
    try:
        with emulator.running(host, port) as emu:
            env = {**os.environ, **emulator.client_env(emu.endpoint)}
            settings = emulator.settings_from_env(env)
            # CloudFront's part: avatar_url opens in a browser, the bucket stays private.
            avatars = start_avatar_server(host, args.avatar_port,
                                          emulator.clients(emu.endpoint, settings.region)[1],
                                          settings.avatars_bucket)
            env.setdefault("AVATAR_BASE_URL", _avatar_base_url(host, args.avatar_port))
            api_host, api_port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
            print(f"emulator on {emu.endpoint}; avatars on {env['AVATAR_BASE_URL']}; API on "
                  f"http://{api_host}:{api_port} (Swagger UI: http://{api_host}:{api_port}/swagger)."
                  " Ctrl-C stops all. In another terminal: eval \"$(make -s run-env)\"",
                  flush=True)
            server = subprocess.Popen(SERVE_COMMAND, env=env)  # noqa: S603 - our own command
            try:
                return _watch(emu, server)
            finally:
                emulator.stop(server, timeout=25)
                avatars.shutdown()
    except KeyboardInterrupt:
        return 0


def _watch(emu: emulator.Emulator, server: subprocess.Popen) -> int:
    """Until the API exits; if the emulator dies first, say so and stop (its data is gone, so
    serving 503s over it would help nobody)."""
    while True:
        code = server.poll()
        if code is not None:
            return code
        if emu.process.poll() is not None:
            print(f"the emulator on {emu.endpoint} exited (code {emu.process.returncode}); "
                  "stopping the API. Its tables and buckets are gone: run `make run` again.",
                  file=sys.stderr, flush=True)
            return 1
        time.sleep(0.5)


def cmd_run_env(args: argparse.Namespace) -> int:
    env = emulator.client_env(f"http://{args.emulator_host}:{args.emulator_port}")
    env["AVATAR_BASE_URL"] = _avatar_base_url(args.emulator_host, args.avatar_port)
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devtools/cli.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="create the table and bucket (emulators only)"
                        ).set_defaults(func=cmd_bootstrap)
    run = commands.add_parser("run-local", help="emulator + bootstrap + API, Ctrl-C stops all")
    run_env = commands.add_parser("run-env", help="exports for a second terminal")
    for command in (run, run_env):
        command.add_argument("--emulator-host", default=emulator.DEFAULT_HOST)
        command.add_argument("--emulator-port", type=int, default=emulator.DEFAULT_PORT)
        command.add_argument("--avatar-port", type=int, default=DEFAULT_AVATAR_PORT)
    run.set_defaults(func=cmd_run_local)
    run_env.set_defaults(func=cmd_run_env)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
