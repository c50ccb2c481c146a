"""The serverless stack synthesized once per session, offline, for dev and prod in parallel.

Each synth is a subprocess of ``python -m users_api_infra.serverless_synth`` (the data stack and
the serverless stack, with cdk-nag and CloudFormation validation, then cfn-lint over the
serverless template) from a bundle of the app's code and route manifest without the wheels
(``api/devtools/lambda_bundle.py --no-dependencies``): no network, no credentials, no Docker.
prod also sets the optional reserved concurrency, so both sides of that option are checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.cdk_synth import CDK_DIR, SYNTH_TIMEOUT_SECONDS, VALIDATION_FAILED, _synth_env

REPO = CDK_DIR.parent
RESERVED_CONCURRENCY = {"prod": 50}


@dataclass(frozen=True)
class ServerlessSynth:
    env: str
    outdir: Path
    bundle: Path
    templates: dict[str, dict]  # "data" | "serverless" -> template
    validation_report: dict | None
    validation_error: str | None
    cfn_lint: dict


@pytest.fixture(scope="session")
def serverless_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serverless") / "bundle"
    subprocess.run([sys.executable, str(REPO / "api" / "devtools" / "lambda_bundle.py"),
                    "--out", str(out), "--no-dependencies"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def serverless_synth(serverless_bundle, tmp_path_factory) -> dict[str, ServerlessSynth]:
    base = tmp_path_factory.mktemp("serverless-synth")
    procs = {}
    for env in ("dev", "prod"):
        cmd = [sys.executable, "-m", "users_api_infra.serverless_synth", "--env", env,
               "--outdir", str(base / env), "-c", f"serverlessBundle={serverless_bundle}", "--lint"]
        if env in RESERVED_CONCURRENCY:
            cmd += ["-c", f"serverlessReservedConcurrency={RESERVED_CONCURRENCY[env]}"]
        procs[env] = subprocess.Popen(cmd, cwd=CDK_DIR, env=_synth_env(), text=True,  # noqa: S603
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for env, proc in procs.items():
        _, stderr = proc.communicate(timeout=SYNTH_TIMEOUT_SECONDS)
        if proc.returncode not in (0, VALIDATION_FAILED):
            raise RuntimeError(f"serverless synth {env} failed:\n{stderr[-6000:]}")
        outdir = base / env
        report = outdir / "validation-report.json"
        results[env] = ServerlessSynth(
            env=env,
            outdir=outdir,
            bundle=serverless_bundle,
            templates={role: json.loads((outdir / f"users-api-{env}-{role}.template.json").read_text())
                       for role in ("data", "serverless")},
            validation_report=json.loads(report.read_text()) if report.exists() else None,
            validation_error=stderr.strip() if proc.returncode == VALIDATION_FAILED else None,
            cfn_lint=json.loads((outdir / "cfn-lint.json").read_text()),
        )
    return results
