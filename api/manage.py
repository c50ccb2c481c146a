"""Operator commands for users-api; this file ships in the image.

  python api/manage.py sweep-orphans    list (or --apply: delete) avatars that no user references

Development commands (emulator bootstrap, run-local) live in api/devtools/cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

API_DIR = Path(__file__).resolve().parent


def cmd_sweep_orphans(args: argparse.Namespace) -> int:
    from chalicelib.config import get_settings
    from chalicelib.wiring import build_sweep

    report = build_sweep(get_settings()).run(timedelta(minutes=args.grace_minutes), apply=args.apply)
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
