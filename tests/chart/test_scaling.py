"""HorizontalPodAutoscaler (autoscaling/v2) and PodDisruptionBudget."""

from __future__ import annotations

import pytest


def metrics_by_name(hpa):
    return {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}


def test_hpa_targets_the_deployment_on_cpu(default):
    hpa = default.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "users-api"
    }
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 10
    assert metrics_by_name(hpa) == {"cpu": {"type": "Utilization", "averageUtilization": 70}}


def test_hpa_memory_metric_is_optional(helm):
    hpa = helm.rendered("irsa").one("HorizontalPodAutoscaler")
    assert metrics_by_name(hpa) == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }


def test_hpa_memory_only(helm):
    render = helm.template({"autoscaling": {"targetCPUUtilizationPercentage": None,
                                            "targetMemoryUtilizationPercentage": 75}})
    assert render.returncode == 0, render.stderr
    assert set(metrics_by_name(render.one("HorizontalPodAutoscaler"))) == {"memory"}


def test_hpa_behavior_has_scale_down_stabilization(default):
    behavior = default.one("HorizontalPodAutoscaler")["spec"]["behavior"]
    down = behavior["scaleDown"]
    assert down["stabilizationWindowSeconds"] == 300
    assert down["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]
    up = behavior["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 0
    assert {p["type"] for p in up["policies"]} == {"Percent", "Pods"}
    assert up["selectPolicy"] == "Max"


def test_prod_hpa_range(prod):
    spec = prod.one("HorizontalPodAutoscaler")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)


def test_pdb_whenever_more_than_one_replica_can_exist(default, helm):
    pdb = default.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == (
        default.one("Deployment")["spec"]["selector"]["matchLabels"]
    )
    # Unready pods (a shared DynamoDB/S3 outage) must not block node drains.
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert helm.rendered("hpa-off").all("PodDisruptionBudget")  # 3 fixed replicas


@pytest.mark.parametrize("name", ["single", "hpa-single", "minimal"])
def test_no_pdb_when_only_one_replica_can_exist_or_disabled(helm, name):
    assert not helm.rendered(name).all("PodDisruptionBudget")


def test_pdb_min_available(full):
    spec = full.one("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 1
    assert "maxUnavailable" not in spec
