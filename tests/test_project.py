"""The house rules that keep docs and code from drifting apart."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_targets() -> set[str]:
    output = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    return {re.sub(r"\x1b\[[0-9;]*m", "", line).split()[0]
            for line in output.splitlines() if line.strip()}


def test_every_make_target_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = sorted(t for t in make_targets() if f"make {t}" not in readme)
    assert not missing, f"README.md does not mention: {missing}"


def environment_variables_read_by_the_app() -> set[str]:
    names: set[str] = set()
    # Configuration is read in these two places only (the WSGI adapter's environ is not config).
    for path in (REPO / "api" / "chalicelib" / "config.py", REPO / "api" / "serve.py"):
        text = path.read_text()
        names |= set(re.findall(r"""(?:environ|env)\.(?:get|setdefault)\(\s*["']([A-Z_]+)["']""", text))
        names |= set(re.findall(r"""(?:_int|_positive_int|number)\((?:env, )?["']([A-Z_]+)["']""", text))
    return names - {"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_every_variable_the_app_reads_is_documented():
    names = environment_variables_read_by_the_app()
    assert {"USERS_TABLE", "AVATARS_BUCKET", "SERVER_THREADS", "PORT", "METRICS_PORT"} <= names
    example = (REPO / ".env.example").read_text()
    readme = (REPO / "README.md").read_text()
    for name in sorted(names):
        assert name in example, f"{name} is missing from .env.example"
        assert f"`{name}`" in readme, f"{name} is missing from the README's configuration table"


def test_python_code_is_lint_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", "api", "cdk", "charts", "container", "tests"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
