"""The release rendered with exactly the values the deploy flow computes from the *deployed*
outputs (deploy.release.release_for), for dev and prod, validated strictly."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import pytest
import yaml

from charts.tools.install_tools import ensure_tools
from deploy.release import SWEEP_SERVICE_ACCOUNT, release_for
from tests.chart.chartlib import CRD_API_VERSIONS, KUBE_VERSION
from tests.rehearsal.harness import REPO

pytestmark = pytest.mark.slow

IMAGE_TAG = "rehearsal-0001"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-aaaa-bbbb-cccc-123456789012"
HOSTNAME = "users.example.org"
CRD_GROUPS = tuple({version.split("/")[0] for version in CRD_API_VERSIONS} | {"keda.sh"})


@pytest.fixture(scope="module", params=["dev", "prod"])
def release(request, rehearsal):
    env_name = request.param
    extra = {"certificate_arn": CERTIFICATE, "api_hostname": HOSTNAME} if env_name == "prod" else {}
    release = release_for(rehearsal.outputs, env_name=env_name, image_tag=IMAGE_TAG, **extra)
    helm = ensure_tools()["helm"]
    argv = [str(helm), *release.template_command("--kube-version", KUBE_VERSION)[1:]]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return env_name, release, docs


def test_every_object_passes_the_strict_schemas(release):
    _, _, docs = release
    for doc in docs:
        if doc["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue  # CRD-backed: no offline schema (and "auto" renders none without the API)
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_the_release_carries_the_deployed_outputs(release, rehearsal):
    env_name, rel, docs = release
    outputs = rehearsal.outputs
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    pod = objects[("Deployment", "users-api")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "users-api"
    [container] = [c for c in pod["containers"] if c["name"] == "users-api"] or pod["containers"][:1]
    assert container["image"] == f"{outputs['RepositoryUri']}:{IMAGE_TAG}"
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    config = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            config.update(objects[("ConfigMap", ref["configMapRef"]["name"])].get("data", {}))
    settings = {**config, **{k: v for k, v in env.items() if v is not None}}
    assert settings["AVATAR_BASE_URL"] == outputs["AvatarBaseUrl"]
    assert settings["USERS_TABLE"] == outputs["UsersTableName"]
    assert settings["AVATARS_BUCKET"] == outputs["AvatarsBucketName"]
    assert settings["AWS_REGION"] == outputs["AwsRegion"]
    assert ("ServiceAccount", "users-api") in objects
    assert ("ServiceAccount", SWEEP_SERVICE_ACCOUNT) in objects
    cron = objects[("CronJob", "users-api-sweep")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["serviceAccountName"] == SWEEP_SERVICE_ACCOUNT
    ingress = objects[("Ingress", "users-api")]
    assert ingress["spec"]["ingressClassName"] == outputs["IngressClassName"]
    annotations = ingress["metadata"].get("annotations", {})
    if env_name == "prod":
        assert rel.values_files == ("charts/users-api/values-prod.yaml",)
        assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == CERTIFICATE
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == [HOSTNAME]
    else:
        assert "alb.ingress.kubernetes.io/certificate-arn" not in annotations


def test_the_pod_identity_roles_bind_the_rendered_service_accounts(release, rehearsal):
    """The trust policies' session-tag conditions name the service accounts the chart renders."""
    _, _, docs = release
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    iam = rehearsal.deployment.client("iam")
    for key in ("AppRoleArn", "SweepRoleArn"):
        role = iam.get_role(RoleName=rehearsal.outputs[key].rsplit("/", 1)[1])["Role"]
        [statement] = role["AssumeRolePolicyDocument"]["Statement"]
        bound = statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"]
        namespace = statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"]
        assert bound in accounts
        assert namespace == rel_namespace(docs)


def rel_namespace(docs) -> str:
    [namespace] = {d["metadata"].get("namespace") for d in docs if d["kind"] == "Deployment"}
    return namespace
