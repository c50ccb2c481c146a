"""The deploy and teardown flows: order, commands, the CLI and make targets, and the AWS reads
against the embedded emulator (moto server over HTTP: CloudFormation, EC2 prefix lists)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from deploy import flow, public
from deploy.aws import Aws, OutputConflict, merge_outputs
from deploy.inputs import DeployInputs
from deploy.preflight import Context
from tests.deploy.test_release import OUTPUTS, set_json_args

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
INPUTS = DeployInputs(env_name="dev", image_tag="abc123def456")


@pytest.fixture
def steps():
    return flow.deploy_steps(INPUTS, OUTPUTS, region=REGION, aws_cidrs=["52.94.0.0/22"])


def test_flow_order_preflight_cdk_outputs_image_helm_check(steps):
    titles = [step.title for step in steps]
    assert [title.split(" ", 1)[0] for title in titles] == [f"{i}/9" for i in range(10)]
    assert "Preflight" in titles[0] and not steps[0].command
    assert steps[1].command.startswith("cd cdk && npx --no-install cdk deploy --all")
    assert "-c env=dev" in steps[1].command and "--require-approval broadening" in steps[1].command
    assert "--outputs-file" not in steps[1].command  # outputs come from CloudFormation
    assert not steps[2].command and "describe-stacks" in steps[2].describe
    assert not steps[3].command and "describe-managed-prefix-lists" in steps[3].describe
    assert steps[4].command.startswith(f"aws ecr get-login-password --region {REGION} | docker login")
    assert steps[4].command.endswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert steps[6].command.startswith("aws eks update-kubeconfig --name users-api-dev --region eu-west-1")
    assert steps[7].command.startswith("helm upgrade --install users-api charts/users-api")
    assert steps[8].command.startswith("helm test users-api")
    assert "/openapi.json" in steps[9].describe and not steps[9].command


def test_the_image_is_built_like_make_image_but_for_amd64_on_the_dockerfile_base(steps):
    build, push = steps[5].command.split(" && ")
    argv = shlex.split(build)
    assert argv[:3] == ["DOCKER_BUILDKIT=1", "docker", "build"]
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert argv[argv.index("--file") + 1] == "container/Dockerfile"
    image = f"{OUTPUTS['RepositoryUri']}:abc123def456"
    assert argv[argv.index("--tag") + 1] == image
    assert not any(arg.startswith("BASE_IMAGE=") for arg in argv)  # the Dockerfile's own base
    assert push == f"docker push {image}"
    podman = flow.deploy_steps(INPUTS, OUTPUTS, region=REGION, engine="podman")[5].command
    assert podman.startswith("podman build") and "--ignorefile container/Dockerfile.dockerignore" in podman


def test_make_image_and_the_deploy_share_one_build_command(monkeypatch):
    from container import image

    for key, value in {"IMAGE_VERSION": "1.2.3", "IMAGE_REVISION": "f" * 40,
                       "IMAGE_SOURCE": "https://example.org/users-api.git"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("USERS_API_BASE_IMAGE", raising=False)
    calls = []

    def run(cmd, **kwargs):
        calls.append((cmd, kwargs["cwd"], kwargs["env"]["DOCKER_BUILDKIT"]))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(image.subprocess, "run", run)
    image.Engine("docker").build("users-api:dev")
    shared = image.build_command("docker", "users-api:dev")
    assert calls == [(shared, image.REPO, "1")]
    assert "--build-arg" in shared and "REVISION=" + "f" * 40 in shared
    deploy = image.build_command("docker", "x:1", platform="linux/amd64")
    assert [a for a in deploy if a not in ("--platform", "linux/amd64")] == \
        image.build_command("docker", "x:1")


def test_helm_values_in_the_command(steps):
    values = set_json_args(shlex.split(steps[7].command))
    assert values["config.avatarBaseUrl"] == OUTPUTS["AvatarBaseUrl"]
    assert values["networkPolicy.egress.awsCidrs"] == ["52.94.0.0/22"]
    assert values["ingress.enabled"] is True
    assert "--kube-context users-api-dev" in steps[7].command


def test_context_inputs_are_forwarded_to_every_cdk_command():
    inputs = DeployInputs(env_name="prod", image_tag="t",
                          admin_principal_arn="arn:aws:iam::123456789012:role/Admin",
                          api_allowed_cidrs="203.0.113.0/24",
                          certificate_arn="arn:aws:acm:eu-west-1:1:certificate/x")
    for action in ("deploy", "destroy", "diff", "synth"):
        command = flow.cdk_command(inputs, action)
        assert "-c env=prod" in command
        assert "-c adminPrincipalArn=arn:aws:iam::123456789012:role/Admin" in command
        assert "-c apiAllowedCidrs=203.0.113.0/24" in command
        assert "-c certificateArn=arn:aws:acm:eu-west-1:1:certificate/x" in command
    assert "--all" not in flow.cdk_command(inputs, "synth")


def test_non_interactive_deploys_without_approval():
    ci = DeployInputs(non_interactive=True)
    assert "--require-approval never" in flow.cdk_command(ci, "deploy")


def test_placeholders_before_the_first_deploy():
    steps = flow.deploy_steps(INPUTS, {}, region="<AWS_REGION>", placeholders=True)
    assert '"<UsersTableName>"' in steps[7].command
    assert "<RepositoryUri>:abc123def456" in steps[5].command


def test_destroy_uninstalls_before_cdk_destroy():
    steps = flow.destroy_steps(INPUTS, OUTPUTS, region=REGION)
    assert steps[1].command.startswith("aws eks update-kubeconfig --name users-api-dev")
    assert steps[2].command.startswith("helm uninstall users-api")
    assert "cdk destroy --all" in steps[3].command and "--force" in steps[3].command


def test_outputs_of_all_stacks_merge_by_key():
    stacks = [
        {"StackName": "users-api-dev-data", "Outputs": [{"OutputKey": "UsersTableName", "OutputValue": "t"}]},
        {"StackName": "users-api-dev-avatars-cdn",
         "Outputs": [{"OutputKey": "AvatarBaseUrl", "OutputValue": "https://d.cloudfront.net"}]},
        {"StackName": "users-api-dev-cluster"},  # no outputs (yet)
    ]
    assert merge_outputs(stacks) == {"UsersTableName": "t", "AvatarBaseUrl": "https://d.cloudfront.net"}
    clash = [*stacks, {"StackName": "users-api-dev-x", "Outputs": [{"OutputKey": "UsersTableName",
                                                                   "OutputValue": "other"}]}]
    with pytest.raises(OutputConflict, match="UsersTableName differs"):
        merge_outputs(clash)


# -- the CLI, offline ---------------------------------------------------------------------------
def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO_ROOT / 'cdk'}:{REPO_ROOT}",
            "IMAGE_TAG": "fixed", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    return subprocess.run([sys.executable, "-m", "deploy", *args], cwd=REPO_ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_plan_cli_runs_offline_without_a_region():
    for action in ("plan", "destroy-plan"):
        proc = cli(action, "--env", "prod", env={})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("# users-api")
        assert "no region chosen" in proc.stdout
    plan = cli("plan", "--env", "prod", env={}).stdout
    assert "NOTE: prod without API_ALLOWED_CIDRS" in plan
    assert "NOTE: prod serves HTTPS only" in plan
    assert "-f charts/users-api/values-prod.yaml" in plan


def test_cli_refuses_an_unknown_environment_in_one_sentence():
    proc = cli("plan", env={"CDK_ENV": "staging"})
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("deploy: CDK_ENV='staging' is not an environment: use CDK_ENV=dev "
                                   "or CDK_ENV=prod.")


# -- against the emulator: outputs from CloudFormation, prefix lists from EC2 ---------------------
@pytest.fixture
def cfn_env(emulator, monkeypatch):
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"))
    env = {"AWS_ENDPOINT_URL": emulator, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def stack_template(outputs: dict[str, str]) -> str:
    """A template with one resource the emulator creates and these literal outputs."""
    return json.dumps({
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    })


def deploy_fake_stacks(env_name: str = "dev") -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    by_stack = {
        "data": ["UsersTableName", "AvatarsBucketName", "AwsRegion", "AppRoleArn", "SweepRoleArn"],
        "avatars-cdn": ["AvatarBaseUrl"],
        "registry": ["RepositoryUri"],
        "cluster": ["ClusterName", "IngressClassName", "KubeconfigCommand"],
    }
    for role, keys in by_stack.items():
        cfn.create_stack(StackName=f"users-api-{env_name}-{role}",
                         TemplateBody=stack_template({k: OUTPUTS[k] for k in keys}))
    # another environment's and another project's stacks are not read
    cfn.create_stack(StackName="users-api-prod-data", TemplateBody=stack_template({"UsersTableName": "prod"}))
    cfn.create_stack(StackName="other-dev-data", TemplateBody=stack_template({"ClusterName": "other"}))


def test_outputs_are_read_from_cloudformation(cfn_env):
    deploy_fake_stacks()
    aws = Aws(REGION)
    assert aws.stack_outputs("dev") == OUTPUTS
    roles = ("avatars-cdn", "cluster", "data", "registry")
    assert aws.env_stack_names("dev") == [f"users-api-dev-{role}" for role in roles]


def test_gateway_prefix_list_cidrs_from_ec2(cfn_env):
    cidrs = Aws(REGION).gateway_cidrs()
    ec2 = boto3.client("ec2", region_name=REGION)
    expected = []
    for service in ("s3", "dynamodb"):
        (plist,) = ec2.describe_managed_prefix_lists(Filters=[
            {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.{service}"]}])["PrefixLists"]
        entries = ec2.get_managed_prefix_list_entries(PrefixListId=plist["PrefixListId"])["Entries"]
        expected += [entry["Cidr"] for entry in entries]
    assert cidrs == expected and cidrs


def test_run_deploy_uses_the_live_outputs_and_cidrs(cfn_env):
    """Steps 1-9 with the shell steps recorded (no cdk/docker/helm/cluster here) and the AWS
    reads real (emulator)."""
    deploy_fake_stacks()
    ran, checked = [], []

    def shell(step, env):
        ran.append(step.command)
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION

    def public_check(inputs, release):
        checked.append(release)
        return public.PublicEndpoint("k8s-alb.example", "http")

    context = Context(inputs=INPUTS, region=REGION, account="123456789012", engine="docker")
    flow.run_deploy(context, Aws(REGION), shell=shell, public_check=public_check)
    assert len(ran) == 6
    assert "cdk deploy" in ran[0] and "docker login" in ran[1] and "docker build" in ran[2]
    helm = set_json_args(shlex.split(ran[4]))
    assert helm["config.usersTable"] == OUTPUTS["UsersTableName"]
    assert set(helm["networkPolicy.egress.awsCidrs"]) == set(Aws(REGION).gateway_cidrs())
    assert dict(checked[0].values) == helm


def test_destroy_on_a_fresh_clone_reads_cloudformation(cfn_env, tmp_path):
    deploy_fake_stacks()
    assert not list((REPO_ROOT / "cdk").glob("cdk.out/outputs-*.json"))  # nothing local is needed
    ran = []
    context = Context(inputs=INPUTS, region=REGION, account="123456789012")
    assert flow.run_destroy(context, Aws(REGION), shell=lambda step, env: ran.append(step.command)) == 0
    assert ran[0].startswith("aws eks update-kubeconfig --name users-api-dev --region eu-west-1")
    assert ran[1].startswith("helm uninstall users-api")
    assert "cdk destroy --all" in ran[2]
    # nothing deployed: says so and runs nothing
    ran.clear()
    empty = Context(inputs=DeployInputs(env_name="prod"), region="eu-central-1", account="1")
    assert flow.run_destroy(empty, Aws("eu-central-1"), shell=lambda step, env: ran.append(step)) == 0
    assert ran == []


def test_plan_cli_shows_the_live_values(cfn_env):
    deploy_fake_stacks()
    proc = cli("plan", env=cfn_env)
    assert proc.returncode == 0, proc.stderr
    assert f"values from the live stacks in {REGION}" in proc.stdout
    assert f'config.usersTable="{OUTPUTS["UsersTableName"]}"' in proc.stdout
    assert "networkPolicy.egress.awsCidrs=[" in proc.stdout
    destroy = cli("destroy-plan", env=cfn_env).stdout
    assert "aws eks update-kubeconfig --name users-api-dev --region eu-west-1" in destroy


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                 "IMAGE_TAG": "fixed", **env})
    # -o: never (re)build the virtualenv from a test
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", target],
                          cwd=REPO_ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_make_aws_targets_ignore_the_emulator_default_region(cfn_env):
    deploy_fake_stacks()
    no_region = {k: v for k, v in cfn_env.items() if k != "AWS_REGION"}
    proc = make("deploy-plan", no_region)  # the top-level Makefile's default is not a choice
    assert proc.returncode == 0, proc.stderr
    assert "no region chosen" in proc.stdout and "us-east-1" not in proc.stdout
    proc = make("deploy-plan", cfn_env)  # a region from the environment is
    assert f"values from the live stacks in {REGION}" in proc.stdout
    proc = make("destroy-plan", {**no_region, "AWS_DEFAULT_REGION": REGION})
    assert "--region eu-west-1" in proc.stdout


def test_make_cdk_bootstrap_then_the_preflight_finds_the_stack(cfn_env):
    """The real CDK CLI bootstraps the emulator's account (through the region and credential
    checks), and the deploy's preflight then finds CDKToolkit."""
    if not (REPO_ROOT / "cdk" / "node_modules" / ".bin" / "cdk").exists():
        pytest.skip("the CDK CLI is not installed (make cdk-install)")
    no_stack = cli("preflight", env={**cfn_env, "NON_INTERACTIVE": "1"})
    assert "CDKToolkit does not exist" in no_stack.stderr
    proc = make("cdk-bootstrap", {**cfn_env, "ADMIN_PRINCIPAL_ARN": "arn:aws:iam::123456789012:role/A"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "aws://123456789012/eu-west-1" in proc.stdout + proc.stderr
    status = boto3.client("cloudformation", region_name=REGION).describe_stacks(
        StackName="CDKToolkit")["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    after = cli("preflight", env={**cfn_env, "NON_INTERACTIVE": "1"})
    assert "CDKToolkit" not in after.stderr


def test_cdk_diff_and_synth_get_the_region_and_the_derived_admin(cfn_env, monkeypatch):
    """`make cdk-diff` / `make deploy-synth`: region and credential checks, then the cdk command
    with the same context `make deploy` uses (the shell step is recorded, not run)."""
    from deploy import __main__ as cli_main

    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="Deployer", AssumeRolePolicyDocument="{}")["Role"]
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
    assumed = {**cfn_env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"], "AWS_SESSION_TOKEN": creds["SessionToken"]}
    for key, value in assumed.items():
        monkeypatch.setenv(key, value)
    ran = []
    monkeypatch.setattr(flow, "run_shell", lambda step, env: ran.append((step.command, env["AWS_REGION"])))
    for action in ("diff", "synth"):
        assert cli_main.main(["cdk", action], environ=assumed) == 0
    (diff, region), (synth, _) = ran
    assert region == REGION
    assert diff.startswith("cd cdk && npx --no-install cdk diff --all")
    assert synth.startswith("cd cdk && npx --no-install cdk synth") and "--quiet" in synth
    for command in (diff, synth):
        assert f"-c adminPrincipalArn={role['Arn']}" in command
    no_region = {k: v for k, v in assumed.items() if k != "AWS_REGION"}
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    assert cli_main.main(["cdk", "diff"], environ=no_region) == 2
    assert len(ran) == 2
