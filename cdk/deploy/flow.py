"""The deploy and teardown flows: ordered steps that can be printed (plan) or run.

Deploy (``make deploy``; ``make deploy-plan`` prints it):
  0. preflight: region, credentials, AWS CLI, Helm 4, kubectl, a container engine that builds
     linux/amd64, the CDK bootstrap stack; ADMIN_PRINCIPAL_ARN derived from your identity
  1. ``cdk deploy --all`` (every stack of the environment)
  2. read the outputs of every users-api-<env>-* stack from CloudFormation, merged by OutputKey
  3. look up the S3 and DynamoDB gateway prefix-list CIDRs (the NetworkPolicy's 443 egress)
  4. log the container engine in to ECR
  5. build the image for linux/amd64 on the Dockerfile's own base image, push it
  6. ``aws eks update-kubeconfig``
  7. ``helm upgrade --install`` with the environment's values file and the computed values
  8. ``helm test`` (the chart's /readyz pod)
  9. print the public URL from the Ingress status and GET /openapi.json through it

Teardown (``make destroy``; ``make destroy-plan``): outputs from CloudFormation (so a fresh clone
can tear down), ``helm uninstall`` first (the ALB the Ingress created must go before its VPC),
then ``cdk destroy --all``.

Shell steps are single command lines run with ``bash -o pipefail -c`` from the repository root,
exactly as printed. Python steps (reads, lookups, the public check) are printed as what they do.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from container.image import BUILD_ENV, build_command
from deploy import public
from deploy.aws import Aws
from deploy.inputs import REPO_ROOT, DeployInputs
from deploy.preflight import IMAGE_PLATFORM, Context
from deploy.release import Release, public_scheme, release_for

CDK_DIR = "cdk"
CDK_APP = "../.venv/bin/python app.py"


@dataclass(frozen=True)
class Step:
    title: str
    command: str = ""  # a shell command line, run from the repository root
    describe: str = ""  # what a Python step does (printed in the plan instead of a command)

    def render(self) -> str:
        return self.command or f"(python) {self.describe}"


def q(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def kube_context(env_name: str) -> str:
    return f"users-api-{env_name}"


def approval(inputs: DeployInputs) -> str:
    # broadening prompts for IAM/security-group widening and aborts without a TTY; a CI run has
    # chosen NON_INTERACTIVE=1 explicitly, and the preflight refuses to start without either.
    return "never" if inputs.non_interactive else "broadening"


def cdk_command(inputs: DeployInputs, action: str, *extra: str) -> str:
    """The npm-pinned cdk CLI (cdk/package.json), run inside cdk/ with the repo's venv Python."""
    argv = ["npx", "--no-install", "cdk", action]
    if action in ("deploy", "destroy", "diff"):
        argv.append("--all")  # every stack of the environment (synth does all by default)
    argv += ["--app", CDK_APP, "--output", f"cdk.out/{inputs.env_name}", "--no-notices",
             *inputs.cdk_context_args(), *extra]
    if action == "deploy":
        argv += ["--require-approval", approval(inputs)]
    if action == "destroy":
        argv += ["--force"]
    return f"cd {CDK_DIR} && {q(argv)}"


def bootstrap_command(account: str, region: str) -> str:
    """cdk bootstrap for one explicit environment, run from the repository root: outside cdk/
    the CLI finds no cdk.json, so it does not synthesize the app (a minute with the cluster
    stack) just to bootstrap. The default qualifier is the one the stacks use."""
    return q([f"{CDK_DIR}/node_modules/.bin/cdk", "bootstrap", f"aws://{account}/{region}",
              "--no-notices"])


def image_uri(outputs: Mapping[str, str], image_tag: str) -> str:
    return f"{outputs.get('RepositoryUri') or '<RepositoryUri>'}:{image_tag}"


def deploy_steps(inputs: DeployInputs, outputs: Mapping[str, str], *, region: str,
                 engine: str = "docker", aws_cidrs: Sequence[str] | None = None,
                 placeholders: bool = False) -> list[Step]:
    """Every step of the deploy, with the values known so far (placeholders before step 1)."""
    release = release_for(outputs, env_name=inputs.env_name, image_tag=inputs.image_tag,
                          certificate_arn=inputs.certificate_arn, api_hostname=inputs.api_hostname,
                          aws_cidrs=aws_cidrs, placeholders=placeholders)
    repository = outputs.get("RepositoryUri") or "<RepositoryUri>"
    registry = repository.split("/", 1)[0]
    image = image_uri(outputs, inputs.image_tag)
    context = kube_context(inputs.env_name)
    build = build_command(engine, image, platform=IMAGE_PLATFORM)
    build_env = " ".join(f"{k}={v}" for k, v in BUILD_ENV.items()) + " " if engine == "docker" else ""
    ingress = public.ingress_hostname_command(context, release.namespace, release.release)
    return [
        Step("0/9 Preflight: region, credentials, AWS CLI, Helm 4, kubectl, container engine, "
             "CDK bootstrap stack", describe="sts get-caller-identity, cloudformation "
             "describe-stacks CDKToolkit, `aws --version`, `helm version`, `kubectl version "
             f"--client`, `{engine} info` (stops here with one sentence per problem)"),
        Step(f"1/9 Deploy every {inputs.env_name} stack (region {region})",
             cdk_command(inputs, "deploy")),
        Step("2/9 Read the stack outputs from CloudFormation",
             describe=f"cloudformation describe-stacks: users-api-{inputs.env_name}-*, outputs "
             "merged by OutputKey"),
        Step("3/9 Look up the gateway-endpoint CIDRs for the NetworkPolicy",
             describe=f"ec2 describe-managed-prefix-lists com.amazonaws.{region}.s3 / "
             f"com.amazonaws.{region}.dynamodb, get-managed-prefix-list-entries -> "
             "networkPolicy.egress.awsCidrs"),
        Step("4/9 Log the container engine in to ECR",
             f"aws ecr get-login-password --region {shlex.quote(region)} | "
             + q([engine, "login", "--username", "AWS", "--password-stdin", registry])),
        Step(f"5/9 Build the image for {IMAGE_PLATFORM} (the Dockerfile's own base image) and push "
             f"it (immutable tag {inputs.image_tag})",
             build_env + q(build) + " && " + q([engine, "push", image])),
        Step(f"6/9 Point kubectl and helm at the cluster (kube context {context})",
             q(["aws", "eks", "update-kubeconfig", "--name",
                outputs.get("ClusterName") or "<ClusterName>", "--region", region,
                "--alias", context])),
        Step("7/9 Install or upgrade the release: the environment's values file, then the values "
             "computed from the outputs", q(release.upgrade_command(context))),
        Step("8/9 Test the release (the chart's /readyz test pod)",
             q(release.test_command(context))),
        Step("9/9 Print the public URL and check GET /openapi.json through it",
             describe=f"`{q(ingress)}` until the ALB has an address, then GET "
             f"{public_scheme(release)}://{inputs.api_hostname or '<ALB hostname>'}"
             f"{public.CHECK_PATH} until it answers 200"),
    ]


def destroy_steps(inputs: DeployInputs, outputs: Mapping[str, str], *, region: str) -> list[Step]:
    context = kube_context(inputs.env_name)
    release = release_for(outputs, env_name=inputs.env_name, image_tag="unused", placeholders=True)
    steps = [
        Step("0/4 Preflight and outputs: region, credentials, AWS CLI, Helm 4, kubectl; outputs "
             "from CloudFormation", describe=f"sts get-caller-identity, cloudformation "
             f"describe-stacks users-api-{inputs.env_name}-* (no local files needed)"),
        Step("1/4 Point kubectl and helm at the cluster",
             q(["aws", "eks", "update-kubeconfig", "--name",
                outputs.get("ClusterName") or "<ClusterName>", "--region", region,
                "--alias", context])),
        Step("2/4 Uninstall the release first, so the ALB and its security groups are deleted "
             "before CloudFormation deletes the VPC", q(release.uninstall_command(context))),
        Step("3/4 Delete the stacks (prod keeps the table, the avatars and log buckets and the ECR "
             "repository: RETAIN and deletion protection; prod stacks also have termination "
             "protection, which has to be switched off first)", cdk_command(inputs, "destroy")),
    ]
    return steps


def print_plan(steps: Sequence[Step], *, header: str, notes: Sequence[str] = (),
               out=sys.stdout) -> None:
    print(f"# {header}", file=out)
    for note in notes:
        print(f"# NOTE: {note}", file=out)
    for step in steps:
        print(f"\n# {step.title}\n{step.render()}", file=out)


def aws_environ(region: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the shell steps: the chosen region, stated explicitly to every tool."""
    env = dict(os.environ if base is None else base)
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "CDK_DEFAULT_REGION": region})
    return env


def run_shell(step: Step, env: Mapping[str, str]) -> None:
    print(f"\n==> {step.title}\n    {step.command}", flush=True)
    subprocess.run(  # noqa: S603 - the command is the printed, reviewed plan
        ["bash", "-o", "pipefail", "-c", step.command], cwd=REPO_ROOT, check=True,  # noqa: S607
        env=dict(env),
    )


def check_public(inputs: DeployInputs, release: Release) -> public.PublicEndpoint:
    """Wait for the Ingress's load balancer, then GET /openapi.json through it."""
    command = public.ingress_hostname_command(kube_context(inputs.env_name), release.namespace,
                                              release.release)
    endpoint = public.PublicEndpoint(public.wait_for_ingress_hostname(command),
                                     public_scheme(release), inputs.api_hostname)
    print(f"    load balancer: {endpoint.lb_hostname}", flush=True)
    document = public.check_openapi(endpoint)
    print(f"\nusers-api {inputs.env_name} is up: {endpoint.url} (GET {public.CHECK_PATH}: "
          f"{document.get('info', {}).get('title', 'OpenAPI')}, OpenAPI {document.get('openapi')})")
    if inputs.api_hostname:
        print(f"Point DNS for {inputs.api_hostname} at {endpoint.lb_hostname} (CNAME or Route 53 "
              "alias) if it does not yet.")
    return endpoint


def run_deploy(context: Context, aws: Aws, *,
               shell: Callable[[Step, Mapping[str, str]], None] = run_shell,
               public_check: Callable[[DeployInputs, Release], public.PublicEndpoint] = check_public,
               ) -> public.PublicEndpoint:
    """Steps 1-9 after a passed preflight; returns the public endpoint it checked."""
    inputs, region = context.inputs, context.region
    env = aws_environ(region)
    for note in context.notes:
        print(f"NOTE: {note}", file=sys.stderr)
    first = deploy_steps(inputs, {}, region=region, engine=context.engine, placeholders=True)[1]
    shell(first, env)
    print("\n==> 2/9 Read the stack outputs from CloudFormation", flush=True)
    outputs = aws.stack_outputs(inputs.env_name)
    print("\n==> 3/9 Look up the gateway-endpoint CIDRs for the NetworkPolicy", flush=True)
    cidrs = aws.gateway_cidrs()
    print(f"    {len(cidrs)} CIDRs", flush=True)
    steps = deploy_steps(inputs, outputs, region=region, engine=context.engine, aws_cidrs=cidrs)
    for step in steps[4:9]:
        shell(step, env)
    print(f"\n==> {steps[9].title}", flush=True)
    return public_check(inputs, release_from_outputs(inputs, outputs, cidrs))


def run_destroy(context: Context, aws: Aws, *, shell: Callable[[Step, Mapping[str, str]], None]
                = run_shell) -> int:
    inputs, region = context.inputs, context.region
    stacks = aws.env_stack_names(inputs.env_name)
    if not stacks:
        print(f"nothing to tear down: no users-api-{inputs.env_name}-* stacks in account "
              f"{context.account}, region {region}.")
        return 0
    print(f"stacks: {', '.join(stacks)}", flush=True)
    outputs = aws.stack_outputs(inputs.env_name)
    env = aws_environ(region)
    steps = destroy_steps(inputs, outputs, region=region)
    if outputs.get("ClusterName"):
        shell(steps[1], env)
        shell(steps[2], env)
    else:
        print("no cluster stack output ClusterName: skipping helm uninstall", file=sys.stderr)
    shell(steps[3], env)
    return 0


def release_from_outputs(inputs: DeployInputs, outputs: Mapping[str, str],
                         aws_cidrs: Sequence[str] | None = None) -> Release:
    """The release for these inputs and outputs (what step 7 installs); for rehearsals."""
    return release_for(outputs, env_name=inputs.env_name, image_tag=inputs.image_tag,
                       certificate_arn=inputs.certificate_arn, api_hostname=inputs.api_hostname,
                       aws_cidrs=aws_cidrs)
