"""Helpers for the Helm chart tests: value sets, a cached `helm template` runner, constants.

The Kubernetes version comes from the one constant the CDK cluster uses too
(cdk/users_api_infra/versions.py). Every value set is rendered at most once per session.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from users_api_infra.versions import KUBERNETES_VERSION

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "users-api"
PROD_VALUES = CHART / "values-prod.yaml"
RELEASE = "users-api"
NAMESPACE = "users-api"
# kubernetes-validate and `helm template --kube-version` want a full version.
KUBE_VERSION = f"{KUBERNETES_VERSION}.0"
HELM_MAJOR = "v4."

# API groups that come from CRDs: no offline schema, checked structurally instead.
CRD_API_VERSIONS = {
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
    "gateway.networking.k8s.io/v1": {"HTTPRoute"},
}

ROLE_ARN = "arn:aws:iam::123456789012:role/users-api"
SWEEP_ROLE_ARN = "arn:aws:iam::123456789012:role/users-api-sweep"
# Shape of what the deploy flow looks up: the S3 and DynamoDB gateway prefix lists' CIDRs.
AWS_PREFIX_LIST_CIDRS = ["52.92.16.0/20", "52.216.0.0/15", "52.94.0.0/22", "52.119.224.0/20"]
CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"

# What the deploy flow adds to values-prod.yaml in prod (besides the stack outputs): the ALB's
# certificate. values-prod.yaml redirects HTTP to HTTPS, so prod does not render without it.
PROD_DEPLOY_VALUES: dict[str, Any] = {"ingress": {"tls": {"certificateArn": CERTIFICATE_ARN}}}
# ...and the prefix-list CIDRs, when it found them (prod-aws-cidrs renders that case).


# Named value sets. Each is rendered once. Values are written to a file (not --set), so types stay
# exactly as written.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "prod": {"_files": [PROD_VALUES], **PROD_DEPLOY_VALUES},
    "prod-aws-cidrs": {"_files": [PROD_VALUES], **PROD_DEPLOY_VALUES,
                       "networkPolicy": {"egress": {"awsCidrs": AWS_PREFIX_LIST_CIDRS}}},
    # The keys the CDK deploy flow sets, and nothing else.
    "cdk": {
        "image": {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api",
                  "tag": "3f2a9c1"},
        "config": {"usersTable": "UsersApiStack-UsersTable-ABC123",
                   "avatarsBucket": "usersapistack-avatarsbucket-abc123",
                   "awsRegion": "eu-west-1"},
        "serviceAccount": {"name": "users-api", "annotations": {}},
    },
    "irsa": {
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}},
        "autoscaling": {"targetMemoryUtilizationPercentage": 80},
        "sweep": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": SWEEP_ROLE_ARN}}},
    },
    "hpa-off": {"autoscaling": {"enabled": False}, "replicaCount": 3},
    "single": {"autoscaling": {"enabled": False}, "replicaCount": 1},
    "hpa-single": {"autoscaling": {"minReplicas": 1, "maxReplicas": 1}},
    "readiness-readyz": {"probes": {"readiness": {"checkDependencies": True}}},
    "other-config": {"config": {"logLevel": "DEBUG"}},
    # Every optional object and knob on.
    "full": {
        "image": {"tag": "1.2.3"},
        "imagePullSecrets": [{"name": "regcred"}],
        "config": {"avatarBaseUrl": "https://cdn.example.com/avatars"},
        "extraEnv": [{"name": "FEATURE_X", "value": "on"}],
        "podAnnotations": {"example.com/owner": "users-api"},
        "podLabels": {"team": "users"},
        "tmpVolume": {"medium": "Memory", "sizeLimit": "64Mi"},
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "api",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
        "priorityClassName": "high-priority",
        "service": {"annotations": {"example.com/svc": "yes"}},
        "podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": None},
        "ingress": {
            "enabled": True,
            "scheme": "internal",
            "annotations": {"alb.ingress.kubernetes.io/wafv2-acl-arn": "arn:aws:wafv2:eu-west-1:"
                            "123456789012:regional/webacl/users/0b1c2d3e"},
            "hosts": ["users.example.com", "api.example.com"],
            "tls": {"certificateArn": CERTIFICATE_ARN, "sslRedirect": True},
        },
        "httpRoute": {
            "enabled": True,
            "annotations": {"example.com/route": "yes"},
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            "hostnames": ["users.example.com"],
        },
        "networkPolicy": {
            "enabled": True,
            "ingress": {
                "httpFrom": [{"ipBlock": {"cidr": "10.0.0.0/16"}}],
                "metricsFrom": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "monitoring"}}}],
            },
            "egress": {
                "awsCidrs": AWS_PREFIX_LIST_CIDRS,
                # A cluster with CoreDNS pods (not EKS Auto Mode) may narrow DNS to them.
                "dnsTo": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            },
        },
        "sweep": {"schedule": "@hourly", "timeZone": "Europe/Berlin", "graceMinutes": 120},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"},
                           "alertLabels": {"team": "users-api"}},
    },
    # Every optional object off, ServiceAccount managed elsewhere.
    "minimal": {
        "autoscaling": {"enabled": False},
        "replicaCount": 1,
        "podDisruptionBudget": {"enabled": False},
        "topologySpread": {"enabled": False},
        "serviceAccount": {"create": False, "name": "existing-sa"},
        "tests": {"enabled": False},
        "sweep": {"enabled": False},
    },
}


@dataclass
class Render:
    """Result of one `helm template` run."""

    returncode: int
    stdout: str
    stderr: str
    docs: list[dict[str, Any]] = field(default_factory=list)

    def all(self, kind: str, component: str | None = None) -> list[dict[str, Any]]:
        """Objects of a kind; with component, only those labelled app.kubernetes.io/component."""
        return [d for d in self.docs if d["kind"] == kind and (
            component is None
            or d["metadata"]["labels"].get("app.kubernetes.io/component") == component)]

    def one(self, kind: str, component: str | None = None) -> dict[str, Any]:
        found = self.all(kind, component)
        assert len(found) == 1, f"expected one {kind} ({component or 'any component'}), got {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {d["kind"] for d in self.docs}


class Helm:
    """Runs helm against the chart; caches renders by value set."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self._cache: dict[str, Render] = {}
        self._counter = 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=120, check=False
        )

    def value_args(self, values: dict[str, Any]) -> list[str]:
        values = dict(values)
        args: list[str] = []
        for extra in values.pop("_files", []):
            args += ["-f", str(extra)]
        if values:
            self._counter += 1
            path = self.workdir / f"values-{self._counter}.yaml"
            path.write_text(yaml.safe_dump(values))
            args += ["-f", str(path)]
        return args

    def template(self, values: dict[str, Any] | None = None) -> Render:
        proc = self.run(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "--kube-version", KUBE_VERSION, *self.value_args(values or {}),
        )
        render = Render(proc.returncode, proc.stdout, proc.stderr)
        if proc.returncode == 0:
            render.docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return render

    def rendered(self, name: str) -> Render:
        """The render of a named value set (VALUE_SETS); fails the test if it does not render."""
        if name not in self._cache:
            self._cache[name] = self.template(VALUE_SETS[name])
        render = self._cache[name]
        assert render.returncode == 0, f"value set {name!r} failed to render:\n{render.stderr}"
        return render


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]
