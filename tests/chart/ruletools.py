"""Helpers for the monitoring tests: renders with cluster APIs, promtool, metric names in PromQL.

promtool comes from Debian's `prometheus` package. Without it the promtool tests skip and say
why; USERS_API_REQUIRE_PROMTOOL=1 (set by .ci/run) makes that a failure instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.chart.chartlib import CHART, KUBE_VERSION, NAMESPACE, RELEASE, Helm, Render

MONITORING_API = "monitoring.coreos.com/v1"
KEDA_API = "keda.sh/v1alpha1"
REQUIRE_VAR = "USERS_API_REQUIRE_PROMTOOL"
FIXTURES = Path(__file__).with_name("promtool")
RUNBOOKS = CHART / "docs" / "runbooks"

# What the app exports (the metrics contract; histograms as their three series).
APP_METRICS = {
    "users_api_requests_total",
    "users_api_request_duration_seconds_bucket",
    "users_api_request_duration_seconds_count",
    "users_api_request_duration_seconds_sum",
    "users_api_backend_errors_total",
    "users_api_requests_in_flight",
    "users_api_worker_threads",
}
# kube-state-metrics series the alerts and the dashboard may use (names as of kube-state-metrics
# 2.x), and Prometheus's own scrape health.
KSM_METRICS = {
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas",
    "kube_deployment_spec_replicas",
    "kube_job_failed",
    "kube_job_owner",
    "kube_job_status_start_time",
    "kube_cronjob_created",
    "kube_cronjob_status_last_successful_time",
    "kube_cronjob_spec_suspend",
}
PROMETHEUS_METRICS = {"up"}


def template(helm: Helm, values: dict[str, Any] | None = None, apis: tuple[str, ...] = ()) -> Render:
    """`helm template` as chartlib's, with --api-versions for the CRDs a cluster would serve."""
    api_args = [arg for api in apis for arg in ("--api-versions", api)]
    proc = helm.run(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
        *api_args, *helm.value_args(dict(values or {})),
    )
    render = Render(proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode == 0:
        render.docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return render


def promtool_or_skip() -> Path:
    found = shutil.which("promtool")
    if found:
        return Path(found)
    reason = "promtool not found (Debian: apt-get install prometheus)"
    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{REQUIRE_VAR}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def run_promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


def rule_groups(rule: dict[str, Any], annotations: bool = True) -> dict[str, Any]:
    """A Prometheus rule file from a PrometheusRule's spec.groups."""
    groups = yaml.safe_load(yaml.safe_dump(rule["spec"]["groups"]))
    if not annotations:
        for group in groups:
            for r in group["rules"]:
                r.pop("annotations", None)
    return {"groups": groups}


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (raises ValueError if it does not parse)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names
