"""PURE: stack outputs + the person's inputs -> the Helm values and the exact helm commands.

No I/O, no clock, no environment: the same arguments always give the same values and argv. That
is what lets a rehearsal read the outputs from the emulator's CloudFormation, call
``release_for`` and render the chart (``Release.template_command``) with exactly the values
``make deploy`` applies (``Release.upgrade_command``).

Every value goes on the command line as ``--set-json key=<JSON>``: JSON keeps types exact (a
string is never read as a number or split at a comma, a list stays a list), and the command the
plan prints is the whole truth, with no generated file next to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from users_api_infra.versions import (
    CHART_PATH,
    HELM_RELEASE,
    NAMESPACE,
    SERVICE_ACCOUNT,
    SWEEP_SERVICE_ACCOUNT,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_TIMEOUT = "10m"

# Helm value -> the stack OutputKey it comes from (outputs of all stacks, merged by OutputKey).
VALUES_FROM_OUTPUTS = {
    "image.repository": "RepositoryUri",
    "config.usersTable": "UsersTableName",
    "config.avatarsBucket": "AvatarsBucketName",
    "config.awsRegion": "AwsRegion",
    "config.avatarBaseUrl": "AvatarBaseUrl",
    "ingress.className": "IngressClassName",
}
# Outputs the flow needs besides the values (kubeconfig).
OTHER_OUTPUTS = ("ClusterName",)
REQUIRED_OUTPUTS = (*VALUES_FROM_OUTPUTS.values(), *OTHER_OUTPUTS)

# Objects that need a CRD: "auto" renders them only when the cluster serves the CRD's API, so
# the release installs on a cluster without the Prometheus Operator or KEDA and picks them up
# on the next deploy once they exist. KEDA is not among them: it replaces the chart's HPA
# (the chart refuses both at once), so it stays the chart's own default (off) unless chosen.
CRD_BACKED_TOGGLES = ("serviceMonitor.enabled", "prometheusRule.enabled", "dashboard.enabled")


class MissingOutputs(LookupError):
    def __init__(self, missing: Sequence[str]):
        self.missing = tuple(missing)
        super().__init__(
            "no users-api stack of this environment has the output " + ", ".join(self.missing)
            + ": deploy every stack (cdk deploy --all) in this region, then run it again."
        )


def env_values_files(env_name: str, chart_path: str = CHART_PATH) -> tuple[str, ...]:
    """The environment's own overlay (charts/users-api/values-<env>.yaml) when the chart has one.

    values.yaml holds the defaults (dev's); prod has values-prod.yaml. Reading whether a file of
    the repository exists is the one thing here that looks outside the arguments.
    """
    overlay = f"{chart_path}/values-{env_name}.yaml"
    return (overlay,) if (REPO_ROOT / overlay).is_file() else ()


@dataclass(frozen=True)
class Release:
    """One Helm release: its values files, its --set values and the commands built from them."""

    env_name: str
    values_files: tuple[str, ...]
    values: Mapping[str, object]  # dotted key -> value, in a fixed order
    release: str = HELM_RELEASE
    chart: str = CHART_PATH
    namespace: str = NAMESPACE

    def nested_values(self) -> dict:
        """The --set values as one nested mapping (what a values file with them would hold)."""
        tree: dict = {}
        for key, value in self.values.items():
            node = tree
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return tree

    def value_args(self) -> list[str]:
        args: list[str] = []
        for path in self.values_files:
            args += ["-f", path]
        for key, value in self.values.items():
            args += ["--set-json", f"{key}={json.dumps(value, separators=(',', ':'))}"]
        return args

    def upgrade_command(self, kube_context: str) -> list[str]:
        return [
            "helm", "upgrade", "--install", self.release, self.chart,
            "--kube-context", kube_context, "--namespace", self.namespace, "--create-namespace",
            *self.value_args(),
            # Helm 4 flags: --rollback-on-failure (was --atomic), --wait=watcher (kstatus).
            "--rollback-on-failure", "--wait=watcher", "--timeout", HELM_TIMEOUT,
        ]

    def template_command(self, *extra: str) -> list[str]:
        """``helm template`` with the same values files and values as ``upgrade_command``."""
        return ["helm", "template", self.release, self.chart, "--namespace", self.namespace,
                *self.value_args(), *extra]

    def test_command(self, kube_context: str) -> list[str]:
        return ["helm", "test", self.release, "--kube-context", kube_context,
                "--namespace", self.namespace, "--timeout", "5m"]

    def uninstall_command(self, kube_context: str) -> list[str]:
        return ["helm", "uninstall", self.release, "--kube-context", kube_context,
                "--namespace", self.namespace, "--wait", "--ignore-not-found"]


def release_for(
    outputs: Mapping[str, str],
    *,
    env_name: str,
    image_tag: str,
    certificate_arn: str | None = None,
    api_hostname: str | None = None,
    aws_cidrs: Sequence[str] | None = None,
    placeholders: bool = False,
) -> Release:
    """The release ``make deploy`` installs for these stack outputs (OutputKey -> value).

    certificate_arn: ACM certificate for the ALB (HTTPS); api_hostname: the host the Ingress
    routes (else any host); aws_cidrs: the S3 and DynamoDB prefix-list CIDRs the NetworkPolicy
    allows on 443 (None: the chart's documented default). With ``placeholders`` a missing output
    becomes ``<OutputKey>`` (for printing a plan before the first deploy) instead of raising
    ``MissingOutputs``.
    """
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing and not placeholders:
        raise MissingOutputs(missing)

    def output(key: str) -> str:
        return outputs.get(key) or f"<{key}>"

    values: dict[str, object] = {key: output(source) for key, source in VALUES_FROM_OUTPUTS.items()}
    values["image.tag"] = image_tag
    values["serviceAccount.name"] = SERVICE_ACCOUNT
    # EKS Pod Identity needs no ServiceAccount annotation (that is IRSA's eks.amazonaws.com/role-arn).
    values["serviceAccount.annotations"] = {}
    values["sweep.serviceAccount.name"] = SWEEP_SERVICE_ACCOUNT
    values["ingress.enabled"] = True
    values["ingress.hosts"] = [api_hostname] if api_hostname else []
    if certificate_arn:
        values["ingress.tls.certificateArn"] = certificate_arn
    for toggle in CRD_BACKED_TOGGLES:
        values[toggle] = "auto"
    if aws_cidrs is not None:
        values["networkPolicy.egress.awsCidrs"] = sorted(set(aws_cidrs), key=_cidr_sort_key)
    return Release(env_name=env_name, values_files=env_values_files(env_name), values=values)


def public_scheme(release: Release) -> str:
    return "https" if release.values.get("ingress.tls.certificateArn") else "http"


def _cidr_sort_key(cidr: str) -> tuple:
    import ipaddress

    net = ipaddress.ip_network(cidr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)
