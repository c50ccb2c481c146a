"""The house rules that keep docs and code from drifting apart."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_help() -> dict[str, list[str]]:
    """`make help` as {area heading: [targets in order]}; a target line is indented, a heading not."""
    output = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    areas: dict[str, list[str]] = {}
    heading = "(before any area)"
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        if line.startswith("  "):
            areas.setdefault(heading, []).append(line.split()[0])
        elif line.strip():
            heading = line.strip()
            areas[heading] = []
    return areas


def make_targets() -> set[str]:
    return {target for targets in make_help().values() for target in targets}


def test_make_help_leads_with_run_and_test_and_groups_every_target():
    areas = list(make_help())
    assert [area.split()[0] for area in areas[:2]] == ["Run", "Test"], areas
    assert make_help()[areas[0]][:1] == ["run"] and make_help()[areas[1]][:1] == ["test"]
    assert not [area for area in areas if area.startswith("Other")], \
        "a target is listed under no `##@ Area (README)` line"


def help_areas() -> list[tuple[str, str, list[str]]]:
    """(area, its README, targets) from the `make help` headings "Area (path/README.md)"."""
    areas = []
    for heading, targets in make_help().items():
        match = re.fullmatch(r"(\S+) \((\S+\.md)\)", heading)
        assert match, f"`make help` heading {heading!r} is not 'Area (README path)'"
        areas.append((match[1], match[2], targets))
    return areas


def test_every_make_target_is_documented_in_its_areas_readme():
    missing = {}
    for _, readme, targets in help_areas():
        text = (REPO / readme).read_text()
        missing.update({target: readme for target in targets if not re.search(
            rf"\bmake {re.escape(target)}(?![\w.-])", text)})
    assert not missing, f"targets their area's README does not mention: {missing}"


def test_the_readme_areas_match_make_help():
    """The top README has one line per area, with the area's README and exactly its targets,
    in `make help`'s order; so the front door and `make help` cannot drift apart."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Areas\n", 1)[1].split("\n## ", 1)[0]
    lines = {match[1]: match[0] for match in re.finditer(r"^- \*\*(\S+)\*\* .*$", section, re.MULTILINE)}
    expected = help_areas()
    assert list(lines) == [name for name, _, _ in expected], "the README's Areas are not make help's"
    for name, path, targets in expected:
        line = lines[name]
        link = "this README" if path == "README.md" else f"]({path})"
        assert link in line, f"the README's {name} line does not link {path}"
        assert re.findall(r"`make ([\w.-]+)`", line) == targets, f"the README's {name} line: {line}"


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


def locked_pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text()
    return {name.lower().replace("_", "-"): version
            for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}


def test_the_dev_lock_holds_every_pin_of_the_local_lock():
    # `make test` after `make run` upgrades the same .venv, and the dev install marks the local
    # one as done: both only hold if the dev lock is a superset, version for version.
    local, dev = locked_pins("requirements-local.lock"), locked_pins("requirements-dev.lock")
    assert {"moto", "chalice", "uv"} <= set(local)
    assert {name: version for name, version in local.items() if dev.get(name) != version} == {}


def test_the_local_lock_has_every_package_that_api_imports():
    """`make run` installs only requirements-local.lock: whatever api/ (the app, the serving
    config, devtools) imports must be in it, or a fresh clone's `make run` fails."""
    import ast
    from importlib.metadata import packages_distributions

    api = REPO / "api"
    first_party = {path.stem for path in api.glob("*.py")} | {path.name for path in api.iterdir()
                                                               if path.is_dir()}
    modules: set[str] = set()
    for path in api.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - first_party - {"__future__"}
    distributions = packages_distributions()
    local = locked_pins("requirements-local.lock")
    missing = {module: distributions.get(module) for module in sorted(third_party)
               if not any(dist.lower().replace("_", "-") in local for dist in distributions.get(module, []))}
    assert third_party and not missing, f"imported by api/ but not in requirements-local.lock: {missing}"


def dry_run(target: str, venv) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(["make", "--no-print-directory", "-n", target, f"VENV={venv}"], cwd=REPO,
                          env=env, check=True, capture_output=True, text=True).stdout


def test_make_run_on_a_fresh_clone_installs_only_the_local_lock(tmp_path):
    fresh = dry_run("run", tmp_path / "venv")
    assert "-r requirements-local.lock" in fresh and "requirements-dev.lock" not in fresh
    # `make test` later fills the same .venv with the dev lock (and nothing else installs there)
    later = dry_run("test", tmp_path / "venv")
    assert f"--python {tmp_path / 'venv'}/bin/python --require-hashes -r requirements-dev.lock" in later
