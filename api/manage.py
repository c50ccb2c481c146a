"""Operator commands for users-api; this file ships in the image.

  python api/manage.py sweep-orphans    list (or --apply: delete) avatars that no user references

Exit codes of sweep-orphans: 0 no orphans; 3 orphans found (and, with --apply, those past the
grace period deleted), so a CronJob's alert can tell "had to clean up" from "clean"; 1 the sweep
failed (the table or bucket missing or unreachable, no credentials).

Development commands (emulator bootstrap, run-local) live in api/devtools/cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

API_DIR = Path(__file__).resolve().parent
EXIT_ORPHANS_FOUND = 3
EXIT_FAILED = 1
# Where a developer's second terminal usually goes wrong: the emulator's endpoint and
# placeholder credentials live in `make run`'s environment only.
LOCAL_HINT = ('Against the emulator of `make run`, first run in this terminal: '
              'eval "$(make -s run-env)"')


def cmd_sweep_orphans(args: argparse.Namespace) -> int:
    from chalicelib.config import get_settings
    from chalicelib.errors import BackendMisconfigured, BackendUnavailable
    from chalicelib.wiring import build_sweep

    try:
        report = build_sweep(get_settings()).run(timedelta(minutes=args.grace_minutes),
                                                 apply=args.apply)
    except BackendMisconfigured as error:
        print(f"sweep-orphans failed: {error.message}. {LOCAL_HINT}", file=sys.stderr)
        return EXIT_FAILED
    except BackendUnavailable as error:
        print(f"sweep-orphans failed: {error.message}", file=sys.stderr)
        return EXIT_FAILED
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
    return EXIT_ORPHANS_FOUND if report.orphans else 0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(API_DIR))
    from chalicelib.sweep import DEFAULT_GRACE

    default_grace_minutes = int(DEFAULT_GRACE.total_seconds() // 60)
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep-orphans", help="find avatars no user references")
    sweep.add_argument("--apply", action="store_true", help="delete them (default: dry run)")
    sweep.add_argument("--grace-minutes", type=int, default=default_grace_minutes,
                       help=f"only objects older than this are candidates (default {default_grace_minutes})")
    sweep.set_defaults(func=cmd_sweep_orphans)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
