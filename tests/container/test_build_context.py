"""What enters the image's build context, from container/Dockerfile.dockerignore itself.

No engine needed: the ignore file is applied to the repository's tracked files with Docker's
documented rules (Go filepath.Match patterns plus `**`, `!` re-includes, the last matching
line wins, a pattern that matches a directory covers everything under it). The podman build
test (test_image.py) checks the same on a real image.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IGNOREFILE = REPO / "container" / "Dockerfile.dockerignore"


def _pattern(line: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(line):
        if line.startswith("**", i):
            out, i = out + ".*", i + 2
        elif line[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif line[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(line[i]), i + 1
    return re.compile(out)


def _rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in IGNOREFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _pattern(line.lstrip("!").strip("/"))))
    return rules


def in_context(path: str) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for keep, pattern in _rules():
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not keep
    return not excluded


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.split()


def test_the_context_holds_the_app_and_the_lock_only():
    shipped = {path for path in tracked_files() if in_context(path)}
    assert {"requirements.lock", "api/app.py", "api/wsgi.py", "api/manage.py",
            "api/serve.py", "api/chalicelib/service.py", "api/chalice_wsgi/adapter.py"} <= shipped
    assert not {path for path in shipped
                if not (path == "requirements.lock" or path.startswith("api/"))}, shipped


def test_dev_only_tools_stay_out_of_the_image():
    devtools = [path for path in tracked_files() if path.startswith("api/devtools/")]
    assert "api/devtools/emulator.py" in devtools
    assert not [path for path in devtools if in_context(path)]
    # The rules themselves, so the check above cannot pass by matching nothing.
    assert not in_context("api/chalicelib/__pycache__/service.cpython-311.pyc")
    assert in_context("api/chalicelib/__init__.py")
