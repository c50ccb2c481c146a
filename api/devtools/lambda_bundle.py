"""Build the Lambda function's code: `python api/devtools/lambda_bundle.py --out DIR [--arch arm64]`.

DIR gets what Chalice itself would package for Lambda, and nothing else:
  app.py, chalicelib/     the routes and everything they use (the handler is `app.app`);
  the locked dependencies  requirements.lock, as manylinux wheels for the function's CPython
                           (3.12) and architecture (`pip install --platform ... --only-binary`):
                           no Docker, no compiler, and the same versions the image runs;
  apigateway.json         the routes and binary types of that very app object, which the CDK
                           stack (users_api_infra.serverless_stack) reads to build API Gateway,
                           so no route is written down twice; and the architecture and Python
                           the wheels are for, which the stack gives the function.

`--no-dependencies` leaves the wheels out: the tests synthesize the stack from such a bundle,
offline. `make serverless-bundle` builds the real one (it needs the package index).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1]
REPO = API_DIR.parent
LOCK = REPO / "requirements.lock"
MANIFEST = "apigateway.json"
# The function's runtime is python3.12, not 3.11: Lambda's python3.11 runs on Amazon Linux 2
# (glibc 2.26), and the locked Pillow ships manylinux_2_27/2_28 wheels only. python3.12 runs on
# Amazon Linux 2023 (glibc 2.34). The lock carries no environment markers, so its pins (and
# their hashes, which cover every wheel of each version) install for 3.12 unchanged.
PYTHON_VERSION = "3.12"
# Every manylinux tag glibc 2.34 runs, newest first; pip takes them all with --platform.
MANYLINUX = ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014")
PLATFORMS = {"arm64": "aarch64", "x86_64": "x86_64"}
# In the lock for the container's server (either one) or for Chalice's command line; never imported by the
# routes on Lambda (25 MB less to load on a cold start).
NOT_ON_LAMBDA = ("gunicorn", "waitress", "pip", "setuptools", "wheel", "_distutils_hack")


def route_manifest() -> dict:
    """The app's routes (path template -> methods) and binary types, from the app object."""
    if str(API_DIR) not in sys.path:
        sys.path.insert(0, str(API_DIR))
    from app import app

    return {
        "routes": {path: sorted(methods) for path, methods in sorted(app.routes.items())},
        "binary_types": sorted(set(app.api.binary_types)),
    }


def copy_code(out: Path) -> None:
    shutil.copy2(API_DIR / "app.py", out / "app.py")
    shutil.copytree(API_DIR / "chalicelib", out / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def install_dependencies(out: Path, arch: str) -> None:
    subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--no-deps", "-r", str(LOCK), "--target", str(out),
         *(f"--platform={tag}_{PLATFORMS[arch]}" for tag in MANYLINUX), "--implementation", "cp",
         "--python-version", PYTHON_VERSION, "--only-binary=:all:"],
        check=True,
    )
    for name in NOT_ON_LAMBDA:
        for path in [out / name, *out.glob(f"{name}-*.dist-info"), *out.glob(f"{name}*.pth")]:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    for cache in out.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def build(out: Path, *, arch: str = "arm64", dependencies: bool = True) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    copy_code(out)
    if dependencies:
        install_dependencies(out, arch)
    # What the wheels were built for: the stack gives the function that runtime and architecture.
    manifest = {**route_manifest(), "architecture": arch, "python": PYTHON_VERSION}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--no-dependencies", action="store_true",
                        help="code and manifest only (offline; for synthesizing in tests)")
    args = parser.parse_args(argv)
    out = build(args.out, arch=args.arch, dependencies=not args.no_dependencies)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 1024 / 1024:.1f} MiB unzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
