"""The pure value computation: stack outputs + inputs -> Helm values and the exact helm command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.release import (
    CRD_BACKED_TOGGLES,
    SWEEP_SERVICE_ACCOUNT,
    MissingOutputs,
    Release,
    public_scheme,
    release_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "users-api"
HELM = Path(sys.executable).parent / "helm"

# Outputs of all stacks merged by OutputKey, as deploy.aws.read_stack_outputs returns them.
OUTPUTS = {
    "UsersTableName": "users-api-dev-data-UsersTable9725E9C8-ABC",
    "AvatarsBucketName": "users-api-dev-data-avatarsbucket383e57d3-xyz",
    "AwsRegion": "eu-west-1",
    "AppRoleArn": "arn:aws:iam::123456789012:role/users-api-dev-data-AppRole",
    "SweepRoleArn": "arn:aws:iam::123456789012:role/users-api-dev-data-SweepRole",
    "AvatarBaseUrl": "https://d111111abcdef8.cloudfront.net",
    "RepositoryUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api-dev",
    "ClusterName": "users-api-dev",
    "IngressClassName": "alb",
    "KubeconfigCommand": "aws eks update-kubeconfig --name users-api-dev --region eu-west-1",
}
CIDRS = ["52.94.0.0/22", "3.5.0.0/19", "52.216.0.0/15", "3.5.0.0/19"]


def set_json_args(argv: list[str]) -> dict[str, object]:
    """--set-json key=<json> pairs of a helm argv, decoded."""
    values = {}
    for flag, arg in zip(argv, argv[1:], strict=False):
        if flag == "--set-json":
            key, _, raw = arg.partition("=")
            values[key] = json.loads(raw)
    return values


def test_values_come_from_the_outputs_and_the_inputs():
    release = release_for(OUTPUTS, env_name="dev", image_tag="abc123def456", aws_cidrs=CIDRS)
    values = release.values
    assert values["image.repository"] == OUTPUTS["RepositoryUri"]
    assert values["image.tag"] == "abc123def456"
    assert values["config.usersTable"] == OUTPUTS["UsersTableName"]
    assert values["config.avatarsBucket"] == OUTPUTS["AvatarsBucketName"]
    assert values["config.awsRegion"] == "eu-west-1"
    assert values["config.avatarBaseUrl"] == "https://d111111abcdef8.cloudfront.net"
    assert values["serviceAccount.name"] == "users-api"
    assert values["serviceAccount.annotations"] == {}
    assert values["sweep.serviceAccount.name"] == SWEEP_SERVICE_ACCOUNT == "users-api-sweep"
    assert values["ingress.enabled"] is True
    assert values["ingress.className"] == "alb"
    assert values["ingress.hosts"] == []  # no API_HOSTNAME: any host, so the ALB's name works
    assert "ingress.tls.certificateArn" not in values
    assert all(values[toggle] == "auto" for toggle in CRD_BACKED_TOGGLES)
    # de-duplicated and in address order, so the same lookup gives the same command
    assert values["networkPolicy.egress.awsCidrs"] == ["3.5.0.0/19", "52.94.0.0/22", "52.216.0.0/15"]
    assert public_scheme(release) == "http"


def test_prod_applies_its_values_file_and_the_certificate():
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-aaaa-bbbb-cccc-123456789012"
    release = release_for(OUTPUTS, env_name="prod", image_tag="t", certificate_arn=cert,
                          api_hostname="users.example.org")
    assert release.values_files == ("charts/users-api/values-prod.yaml",)
    assert release.values["ingress.tls.certificateArn"] == cert
    assert release.values["ingress.hosts"] == ["users.example.org"]
    assert public_scheme(release) == "https"
    # dev has no overlay of its own: values.yaml holds its defaults
    assert release_for(OUTPUTS, env_name="dev", image_tag="t").values_files == ()


def test_the_helm_command_carries_exactly_the_values():
    release = release_for(OUTPUTS, env_name="prod", image_tag="t", aws_cidrs=CIDRS,
                          certificate_arn="arn:aws:acm:eu-west-1:1:certificate/x",
                          api_hostname="users.example.org")
    upgrade = release.upgrade_command("users-api-prod")
    assert upgrade[:5] == ["helm", "upgrade", "--install", "users-api", "charts/users-api"]
    assert upgrade[upgrade.index("-f") + 1] == "charts/users-api/values-prod.yaml"
    # the values file comes before every --set-json, so the computed values win
    assert upgrade.index("-f") < upgrade.index("--set-json")
    assert set_json_args(upgrade) == dict(release.values)
    for flag in ("--rollback-on-failure", "--wait=watcher", "--create-namespace"):  # Helm 4
        assert flag in upgrade
    template = release.template_command("--kube-version", "1.35.0")
    assert template[:4] == ["helm", "template", "users-api", "charts/users-api"]
    assert set_json_args(template) == dict(release.values)
    assert template[template.index("-f") + 1] == "charts/users-api/values-prod.yaml"


def test_nested_values_match_the_dotted_ones():
    release = release_for(OUTPUTS, env_name="dev", image_tag="t", aws_cidrs=["10.0.0.0/8"])
    nested = release.nested_values()
    assert nested["config"]["avatarBaseUrl"] == OUTPUTS["AvatarBaseUrl"]
    assert nested["networkPolicy"]["egress"]["awsCidrs"] == ["10.0.0.0/8"]
    assert nested["sweep"]["serviceAccount"]["name"] == "users-api-sweep"


def test_the_computation_is_pure():
    first = release_for(OUTPUTS, env_name="prod", image_tag="t", aws_cidrs=CIDRS)
    second = release_for(dict(reversed(list(OUTPUTS.items()))), env_name="prod", image_tag="t",
                         aws_cidrs=list(reversed(CIDRS)))
    assert first.upgrade_command("c") == second.upgrade_command("c")


def test_missing_outputs_are_named():
    partial = {k: v for k, v in OUTPUTS.items() if k not in ("AvatarBaseUrl", "ClusterName")}
    with pytest.raises(MissingOutputs) as caught:
        release_for(partial, env_name="dev", image_tag="t")
    assert caught.value.missing == ("AvatarBaseUrl", "ClusterName")
    assert "AvatarBaseUrl" in str(caught.value)
    shown = release_for(partial, env_name="dev", image_tag="t", placeholders=True)
    assert shown.values["config.avatarBaseUrl"] == "<AvatarBaseUrl>"


def test_a_string_is_never_split_or_retyped():
    odd = {**OUTPUTS, "UsersTableName": "a,b", "AwsRegion": "0123"}
    values = set_json_args(release_for(odd, env_name="dev", image_tag="1e3").upgrade_command("c"))
    assert values["config.usersTable"] == "a,b"
    assert values["config.awsRegion"] == "0123"
    assert values["image.tag"] == "1e3"


def _chart_has(key: str, doc: dict) -> bool:
    node = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_value_the_flow_sets_exists_in_the_chart():
    """The chart declares every key the flow sets: a renamed chart value fails here, not in a deploy."""
    doc = yaml.safe_load((CHART / "values.yaml").read_text())
    values = release_for(OUTPUTS, env_name="prod", image_tag="t", aws_cidrs=CIDRS,
                         certificate_arn="arn:aws:acm:eu-west-1:1:certificate/x",
                         api_hostname="users.example.org").values
    assert not [key for key in values if not _chart_has(key, doc)]


def render(release: Release) -> subprocess.CompletedProcess:
    argv = [str(HELM), *release.template_command("--kube-version", "1.35.0")[1:]]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_the_chart_renders_with_exactly_these_values(env_name):
    """helm template with the flow's own values files and values, validated strictly."""
    import kubernetes_validate

    if not HELM.exists():
        pytest.skip("helm is not installed in the virtualenv (make tools)")
    certificate = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-aaaa-bbbb-cccc-123456789012"
    extra = {"certificate_arn": certificate, "api_hostname": "users.example.org"}
    if env_name == "dev":
        extra = {}
    release = release_for(OUTPUTS, env_name=env_name, image_tag="abc123", aws_cidrs=CIDRS, **extra)
    proc = render(release)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for manifest in docs:
        if not manifest["apiVersion"].startswith(("monitoring.coreos.com", "keda.sh")):
            kubernetes_validate.validate(manifest, "1.35.0", strict=True)
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    ingress = objects[("Ingress", "users-api")]
    assert ingress["spec"]["ingressClassName"] == "alb"
    pod = objects[("Deployment", "users-api")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "users-api"
    container = pod["containers"][0]
    assert container["image"] == f"{OUTPUTS['RepositoryUri']}:abc123"
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    config = objects.get(("ConfigMap", "users-api"), {}).get("data", {})
    assert OUTPUTS["AvatarBaseUrl"] in (env.get("AVATAR_BASE_URL"), config.get("AVATAR_BASE_URL"))
    assert ("ServiceAccount", SWEEP_SERVICE_ACCOUNT) in objects
    annotations = ingress["metadata"].get("annotations", {})
    if env_name == "prod":
        assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == extra["certificate_arn"]
        assert ingress["spec"]["rules"][0]["host"] == "users.example.org"
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        assert policies and all(
            {"ipBlock": {"cidr": cidr}} in [peer for rule in policy["spec"].get("egress", [])
                                            for peer in rule.get("to", [])]
            for cidr in set(CIDRS) for policy in policies)
    else:
        assert "alb.ingress.kubernetes.io/certificate-arn" not in annotations
    for toggle in CRD_BACKED_TOGGLES:
        assert release.nested_values()[toggle.split(".")[0]]["enabled"] == "auto"
