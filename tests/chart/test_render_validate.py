"""helm lint --strict, and every rendered object validated offline for the cluster's version.

Core objects go through kubernetes-validate's strict schemas (unknown fields fail; an apiVersion the
schemas don't know raises SchemaNotFoundError and fails). CRD objects (ServiceMonitor,
PrometheusRule, HTTPRoute) have no offline schema and are checked structurally in
test_optional_objects.py.
"""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest

from tests.chart.chartlib import (
    CHART,
    CRD_API_VERSIONS,
    HELM_MAJOR,
    KUBE_VERSION,
    KUBERNETES_VERSION,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
)

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_helm_is_the_pinned_major(helm):
    out = helm.run("version", "--short")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(HELM_MAJOR), f"chart is tested with Helm 4, got {out.stdout}"


@pytest.mark.parametrize("name", ["default", "prod", "prod-aws-cidrs", "full"])
def test_helm_lint_strict(helm, name):
    """prod is values-prod.yaml plus the certificate the deploy flow passes (PROD_DEPLOY_VALUES)."""
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version",
            KUBE_VERSION, *helm.value_args(VALUE_SETS[name])]
    out = helm.run(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout
    assert "[ERROR]" not in out.stdout and "[WARNING]" not in out.stdout


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_object_passes_strict_schemas(helm, name):
    render = helm.rendered(name)
    assert render.docs, "nothing rendered"
    for doc in render.docs:
        kind, api = doc["kind"], doc["apiVersion"]
        if kind in CRD_API_VERSIONS.get(api, set()):
            continue  # no offline schema: structural checks in test_optional_objects.py
        # Raises ValidationError (unknown/invalid field) or SchemaNotFoundError (unknown API).
        used = kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        assert used == KUBERNETES_VERSION, f"{kind} validated against {used}, not the cluster's"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_only_known_crds_render(helm, name):
    for doc in helm.rendered(name).docs:
        api = doc["apiVersion"]
        if "." in api.split("/")[0] and not api.split("/")[0].endswith(".k8s.io") or (
            api.startswith("gateway.networking.k8s.io")
        ):
            assert doc["kind"] in CRD_API_VERSIONS.get(api, set()), f"unexpected CRD {api}"


def test_validator_is_strict_and_knows_versions(default):
    """Guard the guard: the validator really rejects unknown fields and unknown API versions."""
    deployment = copy.deepcopy(default.one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    hpa = copy.deepcopy(default.one("HorizontalPodAutoscaler"))
    hpa["apiVersion"] = "autoscaling/v2beta2"  # removed in 1.26
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(hpa, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_standard_labels_names_and_namespace(helm, name):
    render = helm.rendered(name)
    for doc in render.docs:
        meta = doc["metadata"]
        where = f"{doc['kind']}/{meta['name']}"
        assert DNS1123.match(meta["name"]) and len(meta["name"]) <= 63, where
        assert meta["namespace"] == NAMESPACE, where
        labels = meta["labels"]
        for key in STANDARD_LABELS:
            assert labels.get(key), f"{where} lacks label {key}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "users-api"


def test_release_named_users_api_gives_contract_names(default):
    assert default.one("Deployment")["metadata"]["name"] == "users-api"
    assert default.one("Service")["metadata"]["name"] == "users-api"
    assert default.one("ServiceAccount", "api")["metadata"]["name"] == "users-api"


def test_selector_labels_match_pods_and_service(default):
    deployment = default.one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert default.one("Service")["spec"]["selector"] == selector
    assert selector["app.kubernetes.io/component"] == "api"
    assert set(selector) == {
        "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"
    }, "selector labels are immutable: only stable labels belong there"


def test_pod_labels_value_does_not_touch_selector(helm):
    deployment = helm.rendered("full").one("Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "users"
    assert "team" not in deployment["spec"]["selector"]["matchLabels"]


def test_notes_render(helm):
    """NOTES.txt only renders on install; --dry-run=client needs no cluster."""
    out = helm.run("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client",
                   *helm.value_args(VALUE_SETS["prod"]))
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "EKS Pod Identity" in notes
    assert "helm test users-api -n users-api" in notes
    assert "/metrics is internal" in notes
    assert "https://<that hostname>/openapi.json" in notes
    assert "create job --from=cronjob/users-api-sweep" in notes


def test_version_label_is_valid_for_any_allowed_tag(helm):
    """The label comes from the image tag, which may be 128 chars and end in '.' or '_'."""
    tag = "v" + "1" * 125 + "._"
    render = helm.template({"image": {"tag": tag}})
    assert render.returncode == 0, render.stderr
    label = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
    for doc in render.docs:
        version = doc["metadata"]["labels"]["app.kubernetes.io/version"]
        assert label.match(version), version
    assert render.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        f":{tag}"
    )


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_manifests_have_no_stray_whitespace(helm, name):
    """What `kubectl get -o yaml` readers and diffs see: no blank-with-spaces or trailing blanks."""
    stray = [n for n, line in enumerate(helm.rendered(name).stdout.splitlines(), 1)
             if line != line.rstrip()]
    assert not stray, f"lines with trailing whitespace: {stray[:10]}"
