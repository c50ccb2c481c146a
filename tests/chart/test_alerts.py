"""The PrometheusRule: gated by auto|true|false, derived from `slo`, checked and unit-tested by promtool.

promtool's unit tests (tests/chart/promtool/*.yaml) run against the rule file rendered from the
default values, with synthetic series: each alert fires when it should and stays silent when it
should, the minimum-traffic guard included.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from prometheus_client.utils import floatToGoString

from tests.chart.chartlib import CHART, NAMESPACE, PROD_VALUES, REPO, VALUE_SETS
from tests.chart.ruletools import (
    APP_METRICS,
    FIXTURES,
    KEDA_API,
    KSM_METRICS,
    MONITORING_API,
    PROMETHEUS_METRICS,
    RUNBOOKS,
    metric_names,
    promtool_or_skip,
    rule_groups,
    run_promtool,
    template,
)

ALERTS = {
    "UsersApiAvailabilityBudgetBurnFast": "critical",
    "UsersApiAvailabilityBudgetBurnSlow": "warning",
    "UsersApiLatencyBudgetBurnFast": "critical",
    "UsersApiLatencyBudgetBurnSlow": "warning",
    "UsersApiMetricsAbsent": "critical",
    "UsersApiTargetDown": "warning",
    "UsersApiNoReadyPods": "critical",
    "UsersApiBackendErrors": "warning",
    "UsersApiBackendMisconfigured": "critical",
    "UsersApiOrphanSweepFailed": "warning",
    "UsersApiOrphanSweepNotSucceeding": "warning",
}
FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d)$")


@pytest.fixture(scope="module")
def rule(helm):
    render = template(helm, apis=(MONITORING_API,))
    assert render.returncode == 0, render.stderr
    return render.one("PrometheusRule")


def all_rules(rule):
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def alerts_of(rule):
    return {r["alert"]: r for r in all_rules(rule) if "alert" in r}


# --- gating -----------------------------------------------------------------------------------

GATED = {  # kind -> (values key, API that "auto" looks for)
    "ServiceMonitor": ("serviceMonitor", MONITORING_API),
    "PrometheusRule": ("prometheusRule", MONITORING_API),
    "ConfigMap/dashboard": ("dashboard", MONITORING_API),
}


def gated_objects(render, kind):
    if kind == "ConfigMap/dashboard":
        return [d for d in render.all("ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    return render.all(kind)


@pytest.mark.parametrize("kind", sorted(GATED))
@pytest.mark.parametrize(("setting", "with_api", "renders"), [
    ("auto", False, False), ("auto", True, True),
    (True, False, True), (True, True, True),
    (False, False, False), (False, True, False),
])
def test_monitoring_objects_follow_auto_true_false(helm, kind, setting, with_api, renders):
    key, api = GATED[kind]
    render = template(helm, {key: {"enabled": setting}}, apis=(api,) if with_api else ())
    assert render.returncode == 0, render.stderr
    assert len(gated_objects(render, kind)) == (1 if renders else 0)


def test_defaults_are_auto_and_prod_keeps_auto(helm, prod):
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    prod_values = yaml.safe_load(PROD_VALUES.read_text())
    for key in ("serviceMonitor", "prometheusRule", "dashboard"):
        assert values[key]["enabled"] == "auto"
        assert prod_values.get(key, {}).get("enabled", "auto") == "auto", key
    # Without the Prometheus Operator's API, prod renders none of them (the install cannot fail
    # on an unknown kind); with it, all three.
    assert not prod.all("ServiceMonitor") and not prod.all("PrometheusRule")
    on_cluster = template(helm, VALUE_SETS["prod"], apis=(MONITORING_API, KEDA_API))
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert len(on_cluster.all("ServiceMonitor")) == 1
    assert len(on_cluster.all("PrometheusRule")) == 1
    assert len(gated_objects(on_cluster, "ConfigMap/dashboard")) == 1
    assert on_cluster.one("PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_service_monitor_scrapes_the_metrics_port(helm):
    render = template(helm, apis=(MONITORING_API,))
    endpoint = render.one("ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert "metrics" in {p["name"] for p in render.one("Service")["spec"]["ports"]}


# --- structure --------------------------------------------------------------------------------

def test_every_alert_has_severity_and_a_runbook_page(rule):
    alerts = alerts_of(rule)
    assert set(alerts) == set(ALERTS)
    for name, alert in alerts.items():
        assert alert["labels"]["severity"] == ALERTS[name], name
        assert DURATION.match(alert.get("for", "0m")), name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == f"charts/users-api/docs/runbooks/{name}.md"
        assert (REPO / annotations["runbook_url"]).is_file(), f"no runbook page for {name}"


def test_runbook_base_url_is_a_value(helm):
    base = "https://git.example.com/team/users-api/blob/main/charts/users-api/docs/runbooks"
    render = template(helm, {"prometheusRule": {"runbookBaseUrl": base,
                                                "alertLabels": {"team": "users-api"}}},
                      apis=(MONITORING_API,))
    assert render.returncode == 0, render.stderr
    for name, alert in alerts_of(render.one("PrometheusRule")).items():
        assert alert["annotations"]["runbook_url"] == f"{base}/{name}.md"
        assert alert["labels"]["team"] == "users-api"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_runbook_page_says_meaning_confirm_mitigate_escalate(name):
    text = (RUNBOOKS / f"{name}.md").read_text()
    assert text.startswith(f"# {name}\n")
    for heading in ("## What it means", "## Confirm", "## Mitigate", "## Escalate"):
        assert heading in text, f"{name}: missing {heading!r}"
    for must in ("helm rollback", "/readyz", "X-Request-ID", "```"):
        assert must in text, f"{name}: no {must!r}"


def test_every_rule_parses_and_uses_only_known_metrics(rule):
    recorded = {r["record"] for r in all_rules(rule) if "record" in r}
    known = APP_METRICS | KSM_METRICS | PROMETHEUS_METRICS | recorded
    for r in all_rules(rule):
        used = metric_names(r["expr"])
        assert used <= known, f"{r.get('alert') or r['record']}: unknown {used - known}"
        if "record" in r:  # recording rules read raw series only
            assert used <= APP_METRICS, r["record"]


def test_app_series_are_this_releases_only(rule):
    for r in all_rules(rule):
        for selector in re.findall(r"users_api_[a-z_]+\{([^}]*)\}", r["expr"]):
            assert f'namespace="{NAMESPACE}",job="users-api"' in selector, r["expr"]


# --- derived from the slo values --------------------------------------------------------------

def test_burn_rate_alerts_follow_the_slo_values(helm):
    values = {"slo": {
        "availability": {"objective": 0.995, "routes": ["/users", "/user", "/openapi.json"]},
        "latency": {"objective": 0.95, "requests": [
            {"route": "/user", "method": "POST", "listing": "", "thresholdSeconds": 5}]},
        "burnRates": {"page": [{"burnRate": 10, "longWindow": "2h", "shortWindow": "10m"}],
                      "ticket": [{"burnRate": 2, "longWindow": "2d", "shortWindow": "4h"}]},
        "pageMinRequestsPerHour": 500,
    }}
    render = template(helm, values, apis=(MONITORING_API,))
    assert render.returncode == 0, render.stderr
    rule = render.one("PrometheusRule")
    records = {(r["record"], r.get("labels", {}).get("slo")): r["expr"] for r in all_rules(rule)
               if "record" in r}
    windows = {name.rsplit("rate", 1)[1] for name, _ in records if "rate" in name}
    assert windows == {"2h", "10m", "2d", "4h"}
    avail = records[("users_api:slo_errors:ratio_rate2h", "availability")]
    assert 'route=~"/users|/user|/openapi\\\\.json"' in avail
    latency = records[("users_api:slo_errors:ratio_rate2h", "latency")]
    assert 'le="5.0"' in latency and 'listing=""' in latency and "paged" not in latency
    alerts = alerts_of(rule)
    fast = alerts["UsersApiAvailabilityBudgetBurnFast"]["expr"]
    assert "ratio_rate2h{" in fast and "ratio_rate10m{" in fast
    assert "> (10 * (1 - 0.995))" in fast
    assert "* 3600 >= 500" in fast
    slow = alerts["UsersApiLatencyBudgetBurnSlow"]["expr"]
    assert "ratio_rate2d{" in slow and "> (2 * (1 - 0.95))" in slow and "3600" not in slow


def test_latency_thresholds_use_the_clients_bucket_labels(helm):
    """le="1.0", not le="1": the Python client writes bucket bounds as Go floats."""
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    requests = [{"route": f"/r{i}", "method": "GET", "listing": "", "thresholdSeconds": b}
                for i, b in enumerate(bounds)]
    render = template(helm, {"slo": {"latency": {"objective": 0.99, "requests": requests}}},
                      apis=(MONITORING_API,))
    assert render.returncode == 0, render.stderr
    expr = next(r["expr"] for r in all_rules(render.one("PrometheusRule"))
                if r.get("record") == "users_api:slo_errors:ratio_rate1h"
                and r["labels"]["slo"] == "latency")
    found = dict(re.findall(r'route="(/r[0-9]+)",method="GET",listing="",le="([^"]+)"', expr))
    assert found == {f"/r{i}": floatToGoString(b) for i, b in enumerate(bounds)}


# --- promtool ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def promtool():
    return promtool_or_skip()


def test_promtool_check_rules(rule, promtool, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_groups(rule)))
    result = run_promtool(promtool, "check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules(rule))} rules found" in result.stdout


@pytest.fixture(scope="module")
def unit_test_dir(rule, tmp_path_factory):
    """The fixtures next to the rendered rule file (annotations left out: their text has
    $value in it, and is checked above)."""
    directory = tmp_path_factory.mktemp("promtool")
    (directory / "rules.yaml").write_text(yaml.safe_dump(rule_groups(rule, annotations=False)))
    for name in FIXTURE_FILES:
        shutil.copy(FIXTURES / name, directory / name)
    return directory


@pytest.mark.parametrize("fixture", FIXTURE_FILES)
def test_promtool_unit_tests(promtool, unit_test_dir, fixture):
    result = run_promtool(promtool, "test", "rules", fixture, cwd=unit_test_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_shown_firing_and_silent():
    fires: set[str] = set()
    silent: set[str] = set()
    for name in FIXTURE_FILES:
        for test in yaml.safe_load((FIXTURES / name).read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    assert set(ALERTS) <= fires, f"never shown firing: {set(ALERTS) - fires}"
    assert set(ALERTS) <= silent, f"never shown silent: {set(ALERTS) - silent}"
