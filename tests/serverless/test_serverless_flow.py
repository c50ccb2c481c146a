"""make serverless-plan / deploy-serverless / destroy-serverless: the printed plan is the one
run, its inputs are checked, and destroy is rehearsed against the emulator's CloudFormation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fixtures.cdk_synth import CDK_DIR
from users_api_infra import serverless_flow as flow

REPO = CDK_DIR.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")


def run_flow(command: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in __import__("os").environ.items()
             if not k.startswith(("AWS_", "CDK_", "SERVERLESS_"))}
    return subprocess.run([sys.executable, "-m", "users_api_infra.serverless_flow", command],
                          cwd=REPO, env={**clean, "PYTHONPATH": str(CDK_DIR), **env},
                          capture_output=True, text=True, timeout=60)


def test_the_plan_lists_the_deploy_steps_in_order():
    inputs = flow.inputs_from({"CDK_ENV": "prod", "AWS_REGION": "eu-west-1",
                               "SERVERLESS_RESERVED_CONCURRENCY": "20"})
    build, deploy = flow.deploy_steps(inputs, PYTHON)
    assert build.argv == (".venv/bin/python", "api/devtools/lambda_bundle.py", "--out",
                          "cdk/build/serverless-bundle", "--arch", "arm64")
    assert deploy.cwd == CDK_DIR
    assert deploy.argv[:5] == ("npx", "--no-install", "cdk", "deploy", "users-api-prod-serverless")
    shown = deploy.show()
    for part in ("--app '../.venv/bin/python app.py'", "-c env=prod", "-c serverless=true",
                 "-c serverlessBundle=build/serverless-bundle",
                 "-c serverlessReservedConcurrency=20", "--require-approval never"):
        assert part in shown, part
    printed = run_flow("plan", CDK_ENV="prod", AWS_REGION="eu-west-1",
                       SERVERLESS_RESERVED_CONCURRENCY="20")
    assert printed.returncode == 0, printed.stderr
    assert build.show() in printed.stdout and shown in printed.stdout
    assert "healthz" in printed.stdout and str(REPO) not in printed.stdout  # no machine path


def test_the_destroy_plan_names_only_the_serverless_stack():
    printed = run_flow("destroy-plan", CDK_ENV="dev", AWS_REGION="us-east-1")
    assert printed.returncode == 0, printed.stderr
    assert "delete-stack --stack-name users-api-dev-serverless --region us-east-1" in printed.stdout
    assert "users-api-dev-data" not in printed.stdout.replace("the data stack", "")


@pytest.mark.parametrize(("env", "message"), [
    ({"CDK_ENV": "staging"}, "CDK_ENV must be dev or prod"),
    ({"SERVERLESS_ARCH": "ppc64"}, "SERVERLESS_ARCH"),
    ({"SERVERLESS_RESERVED_CONCURRENCY": "0"}, "positive integer"),
])
def test_bad_inputs_are_refused(env, message):
    result = run_flow("plan", **env)
    assert result.returncode == 1 and message in result.stderr


def test_deploy_and_destroy_need_a_region():
    for command in ("deploy", "destroy"):
        result = run_flow(command, CDK_ENV="dev")
        assert result.returncode == 1 and "AWS_REGION" in result.stderr


def test_destroy_deletes_the_stack_on_the_emulator(clean_backend, moto_endpoint, aws_env):
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="us-east-1",
                                  endpoint_url=moto_endpoint, aws_access_key_id="x",
                                  aws_secret_access_key="x")  # noqa: S106 - the emulator's
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}
    cloudformation.create_stack(StackName="users-api-dev-serverless", TemplateBody=json.dumps(template))
    result = run_flow("destroy", CDK_ENV="dev", **{k: v for k, v in aws_env.items()
                                                   if k.startswith("AWS_")})
    assert result.returncode == 0, result.stderr
    live = [s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"]
    assert "users-api-dev-serverless" not in live


def test_destroy_refuses_a_protected_stack_and_says_how(clean_backend, moto_endpoint, aws_env):
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="us-east-1",
                                  endpoint_url=moto_endpoint, aws_access_key_id="x",
                                  aws_secret_access_key="x")  # noqa: S106 - the emulator's
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}
    cloudformation.create_stack(StackName="users-api-prod-serverless",
                                TemplateBody=json.dumps(template), EnableTerminationProtection=True)
    env = {k: v for k, v in aws_env.items() if k.startswith("AWS_")}
    result = run_flow("destroy", CDK_ENV="prod", **env)
    assert result.returncode == 1
    assert "termination-protected" in result.stderr and "update-termination-protection" in result.stderr
    live = [s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"]
    assert "users-api-prod-serverless" in live


def test_destroy_of_a_missing_stack_says_so(clean_backend, moto_endpoint, aws_env):
    env = {k: v for k, v in aws_env.items() if k.startswith("AWS_")}
    result = run_flow("destroy", CDK_ENV="dev", AWS_REGION="eu-south-1",
                      **{k: v for k, v in env.items() if k != "AWS_REGION"})
    assert result.returncode == 0, result.stderr
    assert "nothing to delete" in result.stdout
