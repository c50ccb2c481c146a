"""The Grafana dashboard: JSON that loads, queries that parse, metrics that exist.

Every query is parsed twice with the dashboard's variables substituted: by a PromQL parser
(promql-parser), and by `promtool check rules` as a generated recording rule (skipped without
promtool, a failure with USERS_API_REQUIRE_PROMTOOL=1). Every metric a query uses is exported by
the app, is a listed kube-state-metrics series, or is recorded by the chart's own PrometheusRule.
"""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
import yaml

from tests.chart.chartlib import CHART, KUBE_VERSION
from tests.chart.ruletools import (
    APP_METRICS,
    KSM_METRICS,
    MONITORING_API,
    metric_names,
    promtool_or_skip,
    run_promtool,
    template,
)

DASHBOARD_FILE = CHART / "dashboards" / "users-api.json"
# Values a Grafana would put in for the variables.
SUBSTITUTES = {"$__rate_interval": "5m", "$namespace": "users-api", "$job": "users-api"}
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD_FILE.read_text())


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def queries(dashboard):
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p["targets"]]


def substituted(expr: str) -> str:
    for name, value in sorted(SUBSTITUTES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


@pytest.fixture(scope="module")
def monitoring(helm):
    render = template(helm, apis=(MONITORING_API,))
    assert render.returncode == 0, render.stderr
    return render


def test_configmap_carries_the_file_with_the_sidecar_label(monitoring):
    cm = next(c for c in monitoring.all("ConfigMap") if c["metadata"]["name"] == "users-api-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["users-api.json"]) == json.loads(DASHBOARD_FILE.read_text())


def test_configmap_is_a_valid_object(monitoring):
    cm = next(c for c in monitoring.all("ConfigMap") if c["metadata"]["name"] == "users-api-dashboard")
    kubernetes_validate.validate(cm, KUBE_VERSION, strict=True)
    # ConfigMaps hold at most 1 MiB; the sidecar reads the key as a file name.
    assert len(cm["data"]["users-api.json"].encode()) < 256 * 1024


def test_configmap_namespace_and_annotations_are_values(helm):
    render = helm.template({"dashboard": {"enabled": True, "namespace": "monitoring",
                                          "annotations": {"grafana_folder": "users-api"}}})
    assert render.returncode == 0, render.stderr
    cm = next(c for c in render.all("ConfigMap") if c["metadata"]["name"] == "users-api-dashboard")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "users-api"}


def test_dashboard_model_is_complete(dashboard):
    assert dashboard["uid"] and dashboard["title"] == "users-api"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "job"} <= defined
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            used = set(VARIABLE.findall(target["expr"])) - {"__rate_interval"}
            assert used <= defined, f"{panel['title']}: undefined variables {used - defined}"


def test_every_query_parses_and_uses_known_metrics(dashboard, monitoring):
    rule = monitoring.one("PrometheusRule")
    recorded = {r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r}
    known = APP_METRICS | KSM_METRICS | recorded
    for title, expr in queries(dashboard):
        used = metric_names(substituted(expr))
        assert used, f"{title}: a query without a metric"
        assert used <= known, f"{title}: {used - known} is neither exported, kube-state-metrics nor recorded"


def test_panels_cover_red_slo_saturation_and_backends(dashboard):
    used = set()
    for _, expr in queries(dashboard):
        used |= metric_names(substituted(expr))
    assert {"users_api_requests_total", "users_api_request_duration_seconds_bucket"} <= used
    assert {"users_api:slo_errors:ratio_rate5m", "users_api:slo_errors:ratio_rate1h",
            "users_api:slo_objective"} <= used
    assert {"users_api_requests_in_flight", "users_api_worker_threads",
            "kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"} <= used
    assert "users_api_backend_errors_total" in used
    red = [expr for _, expr in queries(dashboard) if "users_api_request" in expr]
    assert any("by (route, method)" in e for e in red) and any("by (route)" in e for e in red)
    assert any("route, listing" in e for e in red), "duration must tell paged from whole-table"


def test_promtool_parses_every_query(dashboard, tmp_path):
    promtool = promtool_or_skip()
    rules = [{"record": f"dashboard:query_{i}:check", "expr": substituted(expr)}
             for i, (_, expr) in enumerate(queries(dashboard))]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
