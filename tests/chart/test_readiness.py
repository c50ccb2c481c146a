"""Readiness during a shared DynamoDB/S3 outage (chart README, "Probes").

The decision: DynamoDB and S3 gate a pod's *start* (startup probe on /readyz), never its place
in the Service (readiness on /healthz). A shared outage therefore keeps every pod in the Service,
answering the app's JSON 503 with Retry-After and counted by the SLO alerts, while a pod that
cannot reach its table or bucket (wrong name, region, credentials, permission) never starts, so
a broken rollout stalls behind maxUnavailable 0.
"""

from __future__ import annotations

from tests.chart.chartlib import CHART, container

README = (CHART / "README.md").read_text()


def probes(render):
    c = container(render.one("Deployment"))
    return c["startupProbe"], c["livenessProbe"], c["readinessProbe"]


def test_dependencies_gate_start_not_service_membership(default, prod):
    for render in (default, prod):
        startup, liveness, readiness = probes(render)
        assert startup["httpGet"]["path"] == "/readyz"
        assert readiness["httpGet"]["path"] == "/healthz"
        assert liveness["httpGet"]["path"] == "/healthz"


def test_startup_gives_a_minute_to_reach_dynamodb_and_s3(default):
    startup, _, _ = probes(default)
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    assert startup["timeoutSeconds"] >= 5, "/readyz makes two AWS calls"


def test_rollout_cannot_drop_capacity_while_new_pods_fail_to_start(default):
    strategy = default.one("Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_both_switches(helm):
    render = helm.template({"probes": {"startup": {"checkDependencies": False},
                                       "readiness": {"checkDependencies": True}}})
    assert render.returncode == 0, render.stderr
    startup, _, readiness = probes(render)
    assert startup["httpGet"]["path"] == "/healthz"
    assert readiness["httpGet"]["path"] == "/readyz"


def test_readme_states_the_reversed_decision():
    section = README.split("### Probes, and what a shared DynamoDB/S3 outage does", 1)[1]
    section = section.split("\n### ", 1)[0]
    assert "reversed" in section
    for phrase in ("probes.startup.checkDependencies", "probes.readiness.checkDependencies",
                   "UsersApiNoReadyPods", "Retry-After"):
        assert phrase in section, phrase
