"""How long a Lambda cold start spends in the handler: `python api/devtools/cold_import.py [--runs N]`.

Each run is a fresh interpreter (as a new execution environment is) that times `import app`
(what Lambda does before the first event) and then the first request's set-up (settings,
logging, the AWS clients), with the Lambda runtime's AWS_LAMBDA_FUNCTION_NAME set. Then one
`python -X importtime` run says where the import time goes, by top-level module of app.py.
Nothing reaches AWS: making a client does not call it. Figures vary with the machine's load:
quote the minimum and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1]
TIMED = (
    "import time; t0 = time.perf_counter(); import app; t1 = time.perf_counter(); "
    "from chalicelib.startup import set_up; from chalicelib.wiring import get_readiness, get_service; "
    "set_up(); get_service(); get_readiness(); print(t1 - t0, time.perf_counter() - t0)"
)


def lambda_env() -> dict[str, str]:
    return {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "users-api-cold-import",
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"), "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1"}


def timed_runs(runs: int) -> tuple[list[float], list[float]]:
    imports, first = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", TIMED], cwd=API_DIR, env=lambda_env(),  # noqa: S603
                             capture_output=True, text=True, check=True).stdout.split()
        imports.append(float(out[0]))
        first.append(float(out[1]))
    return imports, first


def import_breakdown(top: int = 8) -> list[tuple[str, float]]:
    """Cumulative import time of the modules app.py imports directly, largest first."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=API_DIR,  # noqa: S603
                         env=lambda_env(), capture_output=True, text=True, check=True).stderr
    rows: list[tuple[str, float]] = []
    children: list[tuple[str, float]] = []
    # importtime lists a module's imports (one level deeper) before the module itself.
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth == 1:
            children.append((name.strip(), int(cumulative) / 1e6))
        elif depth == 0:
            if name.strip() == "app":
                rows = children
            children = []
    return sorted(rows, key=lambda row: -row[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args(argv)
    imports, first = timed_runs(args.runs)
    for label, values in (("import app", imports), ("import app + first request's set-up", first)):
        runs = ", ".join(f"{v * 1000:.0f}" for v in values)
        print(f"{label}: min {min(values) * 1000:.0f} ms, median "
              f"{statistics.median(values) * 1000:.0f} ms ({args.runs} fresh processes: {runs} ms)")
    print("where `import app` goes (python -X importtime, cumulative):")
    for name, seconds in import_breakdown():
        print(f"  {name:32} {seconds * 1000:6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
