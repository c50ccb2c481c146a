"""The deploy flow (make deploy / deploy-plan / destroy-plan): readable, complete, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from users_api_infra import deploy_flow
from users_api_infra.deploy_flow import StackOutputs, deploy_plan, destroy_plan

REPO_ROOT = Path(__file__).resolve().parents[2]

OUTPUTS = {
    "users-api-dev-data": {
        "UsersTableName": "users-api-dev-data-UsersTable9725E9C8-ABC",
        "AvatarsBucketName": "users-api-dev-data-avatarsbucket383e57d3-xyz",
        "AwsRegion": "eu-west-1",
        "AppRoleArn": "arn:aws:iam::123456789012:role/users-api-dev-data-AppRole",
    },
    "users-api-dev-registry": {
        "RepositoryUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api",
        "RepositoryName": "users-api",
    },
    "users-api-dev-cluster": {"ClusterName": "users-api-dev", "IngressClassName": "alb"},
}


@pytest.fixture
def steps():
    return deploy_plan("dev", StackOutputs("dev", OUTPUTS), image_tag="abc123def456", environ={})


def test_flow_order_cdk_then_image_then_helm(steps):
    commands = [s.command for s in steps]
    assert "cdk deploy --all" in commands[0]
    assert "--outputs-file cdk.out/outputs-dev.json" in commands[0]
    assert "-c env=dev" in commands[0]
    assert "docker login" in commands[1] and "123456789012.dkr.ecr.eu-west-1.amazonaws.com" in commands[1]
    assert "docker build --platform linux/amd64 -f container/Dockerfile" in commands[2]
    assert "docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api:abc123def456" in commands[2]
    assert commands[3].startswith("aws eks update-kubeconfig --name users-api-dev --region eu-west-1")
    assert commands[4].startswith("helm upgrade --install users-api charts/users-api")
    assert commands[5].startswith("helm test users-api")


def test_helm_values_come_from_the_stack_outputs(steps):
    helm = steps[4].command
    for expected in (
        "--set-string image.repository=123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api",
        "--set-string image.tag=abc123def456",
        "--set-string config.usersTable=users-api-dev-data-UsersTable9725E9C8-ABC",
        "--set-string config.avatarsBucket=users-api-dev-data-avatarsbucket383e57d3-xyz",
        "--set-string config.awsRegion=eu-west-1",
        "--set-string serviceAccount.name=users-api",
        "--set-json 'serviceAccount.annotations={}'",
        "--namespace users-api",
        "--rollback-on-failure",  # helm 4 (was --atomic)
    ):
        assert expected in helm


def test_helm_keys_exist_in_the_chart():
    values = REPO_ROOT / "charts" / "users-api" / "values.yaml"
    if not values.exists():
        pytest.skip("charts/users-api not present")
    import yaml

    doc = yaml.safe_load(values.read_text())
    for key in [*deploy_flow.HELM_VALUES_FROM_OUTPUTS, "image.tag", "serviceAccount.name",
                "serviceAccount.annotations"]:
        node = doc
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"chart has no value {key}"
            node = node[part]


def test_context_inputs_are_forwarded_to_cdk():
    environ = {"ADMIN_PRINCIPAL_ARN": "arn:aws:iam::123456789012:role/Admin",
               "API_ALLOWED_CIDRS": "203.0.113.0/24"}
    first = deploy_plan("prod", StackOutputs("prod", None), image_tag="t", environ=environ)[0]
    assert "-c env=prod" in first.command
    assert "-c adminPrincipalArn=arn:aws:iam::123456789012:role/Admin" in first.command
    assert "-c apiAllowedCidrs=203.0.113.0/24" in first.command


def test_placeholders_before_the_first_deploy():
    steps = deploy_plan("dev", StackOutputs("dev", None), image_tag="t", environ={})
    assert not StackOutputs("dev", None).complete
    assert "<users-api-dev-data.UsersTableName>" in steps[4].command
    assert "<users-api-dev-registry.RepositoryUri>" in steps[2].command


def test_destroy_uninstalls_before_cdk_destroy():
    steps = destroy_plan("dev", StackOutputs("dev", OUTPUTS), environ={})
    assert steps[1].command.startswith("helm uninstall users-api")
    assert "cdk destroy --all" in steps[2].command and "-c env=dev" in steps[2].command


def test_plan_cli_runs_offline(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT / "cdk"), "IMAGE_TAG": "fixed"}
    for action in ("plan", "destroy-plan"):
        out = subprocess.run(
            [sys.executable, "-m", "users_api_infra.deploy_flow", action, "--env", "prod"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout
        assert out.startswith("# users-api")
    assert "NOTE: prod without API_ALLOWED_CIDRS" in subprocess.run(
        [sys.executable, "-m", "users_api_infra.deploy_flow", "plan", "--env", "prod"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout


def test_outputs_file_round_trip(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    outputs = StackOutputs.load("dev", path)
    assert outputs.complete
    assert outputs.get("cluster", "ClusterName") == "users-api-dev"
