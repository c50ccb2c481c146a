"""hadolint over container/Dockerfile: clean at every severity, ignored rules documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILE = REPO / "container" / "Dockerfile"
CONFIG = REPO / "container" / ".hadolint.yaml"


def test_hadolint_clean() -> None:
    proc = subprocess.run([str(HADOLINT), "--no-color", "--config", str(CONFIG), str(DOCKERFILE)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_ignored_rule_has_a_reason() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["failure-threshold"] == "info"
    lines = CONFIG.read_text().splitlines()
    for rule in config.get("ignored") or []:
        line = next(line for line in lines if re.match(rf"\s*-\s*{rule}\b", line))
        assert re.search(r"#\s*\S", line), f"{rule} is ignored without a reason"
    # Inline ignores in the Dockerfile: each one right under a comment naming the rule.
    dockerfile = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(dockerfile):
        found = re.match(r"#\s*hadolint ignore=(\S+)", line)
        if found:
            for rule in found.group(1).split(","):
                assert rule in dockerfile[i - 1], f"inline ignore of {rule} has no reason above it"


def test_ignore_file_keeps_the_context_small() -> None:
    """docker (BuildKit) reads <Dockerfile>.dockerignore; podman gets it via --ignorefile."""
    rules = [line.strip() for line in (REPO / "container" / "Dockerfile.dockerignore")
             .read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "allow-list: everything is excluded first"
    assert set(line for line in rules if line.startswith("!")) == {"!requirements.lock", "!api/"}
