"""Scaling on saturation with KEDA's Prometheus scaler: gated, off by default, never with the HPA."""

from __future__ import annotations

import pytest

from tests.chart.ruletools import APP_METRICS, KEDA_API, metric_names, template

KEDA_ON = {"keda": {"enabled": True}, "autoscaling": {"enabled": False}}


@pytest.fixture(scope="module")
def keda_on(helm):
    render = template(helm, KEDA_ON)
    assert render.returncode == 0, render.stderr
    return render


def test_off_by_default(default, prod, helm):
    assert not default.all("ScaledObject") and not prod.all("ScaledObject")
    # Off means off, even on a cluster with KEDA.
    render = template(helm, apis=(KEDA_API,))
    assert render.returncode == 0, render.stderr
    assert not render.all("ScaledObject")
    assert render.one("HorizontalPodAutoscaler")


@pytest.mark.parametrize(("with_api", "renders"), [(False, False), (True, True)])
def test_auto_follows_the_keda_api(helm, with_api, renders):
    render = template(helm, {"keda": {"enabled": "auto"}, "autoscaling": {"enabled": False}},
                      apis=(KEDA_API,) if with_api else ())
    assert render.returncode == 0, render.stderr
    assert len(render.all("ScaledObject")) == (1 if renders else 0)
    deployment = render.one("Deployment")["spec"]
    # Without KEDA nothing scales, so the Deployment keeps its own replica count.
    assert ("replicas" in deployment) is (not renders)


def test_scaled_object_scales_the_deployment_on_in_flight_requests(keda_on):
    so = keda_on.one("ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "users-api"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 10)
    prometheus, cpu = spec["triggers"]
    assert prometheus["type"] == "prometheus" and prometheus["metricType"] == "AverageValue"
    meta = prometheus["metadata"]
    assert meta["serverAddress"].startswith("http://")
    assert metric_names(meta["query"]) == {"users_api_requests_in_flight"} <= APP_METRICS
    assert 'namespace="users-api",job="users-api"' in meta["query"]
    assert meta["threshold"] == "12", "KEDA metadata values are strings"
    assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_keda_replaces_the_hpa_and_keeps_the_pdb(keda_on):
    assert not keda_on.all("HorizontalPodAutoscaler")
    assert "replicas" not in keda_on.one("Deployment")["spec"], "helm upgrade would fight KEDA"
    assert keda_on.one("PodDisruptionBudget")


def test_in_flight_only_and_values(helm):
    render = template(helm, {"keda": {"enabled": True, "cpuUtilizationPercent": None,
                                      "targetInFlightPerPod": 4.5, "minReplicas": 3,
                                      "maxReplicas": 30},
                             "autoscaling": {"enabled": False}})
    assert render.returncode == 0, render.stderr
    spec = render.one("ScaledObject")["spec"]
    assert [t["type"] for t in spec["triggers"]] == ["prometheus"]
    assert spec["triggers"][0]["metadata"]["threshold"] == "4.5"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 30)


def test_min_above_max_fails(helm):
    render = template(helm, {"keda": {"enabled": True, "minReplicas": 5, "maxReplicas": 3},
                             "autoscaling": {"enabled": False}})
    assert render.returncode != 0
    assert "keda.minReplicas (5) must not be greater than keda.maxReplicas (3)" in render.stderr
