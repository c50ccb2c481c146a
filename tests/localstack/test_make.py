"""The LocalStack make targets: listed by `make help`, and clear when a prerequisite is missing.

Only the failure paths can run on machines without Docker and tflocal; they must name what is
missing instead of failing somewhere inside docker or terraform.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.localstack.tfmodel import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

TARGETS = ("localstack-up", "localstack-provision", "localstack-env", "localstack-down")


def _make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_every_target_with_a_description():
    result = _make("help")
    assert result.returncode == 0, result.stderr
    lines = [re.sub(r"\x1b\[[0-9;]*m", " ", ln) for ln in result.stdout.splitlines()]
    for target in TARGETS:
        line = next((ln for ln in lines if f" {target} " in f" {ln} "), "")
        assert target in line, f"`make help` does not list {target}"
        assert len(line.split(target, 1)[1].strip()) > 10, f"{target} has no description"


@pytest.mark.parametrize(("target", "override", "expected"), [
    ("localstack-up", "DOCKER=/nonexistent/docker", "Install Docker"),
    ("localstack-down", "DOCKER=/nonexistent/docker", "Install Docker"),
    ("localstack-provision", "TERRAFORM=/nonexistent/terraform", "Install Terraform"),
    ("localstack-provision", "TFLOCAL=/nonexistent/tflocal", "terraform-local"),
    ("localstack-env", "TERRAFORM=/nonexistent/terraform", "Install Terraform"),
])
def test_missing_prerequisite_is_named(target, override, expected):
    extra = [] if override.startswith("TERRAFORM") else [f"TERRAFORM={shutil.which('true')}"]
    result = _make(target, override, *extra)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert result.stdout.strip() == "" or "nonexistent" not in result.stdout


def test_env_without_state_points_to_provision(tmp_path):
    result = _make("-s", "localstack-env", f"LOCALSTACK_TF_DIR={tmp_path}",
                   f"TERRAFORM={shutil.which('true')}")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "make localstack-provision" in result.stderr
