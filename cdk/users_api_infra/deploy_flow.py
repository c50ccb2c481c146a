"""The deploy flow, printable and runnable: ``python -m users_api_infra.deploy_flow ACTION``.

ACTION is plan, run, destroy-plan or destroy.

``plan`` prints every command of the flow without running anything (no AWS access needed):

1. ``cdk deploy`` of the data, registry and cluster stacks, writing the stack outputs to
   ``cdk/cdk.out/outputs-<env>.json``;
2. build the image for linux/amd64 and push it to the ECR repository (tag: the git commit);
3. ``aws eks update-kubeconfig`` and ``helm upgrade --install charts/users-api`` with every value
   taken from the stack outputs, then ``helm test`` (the chart's /readyz check).

Values that come from stack outputs are shown as ``<stack.OutputKey>`` until the outputs file
exists; after a deploy the plan shows the real values. ``run`` executes the same commands in
order (it re-reads the outputs after step 1). ``destroy-plan``/``destroy`` tear it all down:
``helm uninstall`` first (so the load balancer the Ingress created is deleted before its VPC),
then ``cdk destroy``.

Run from the repository root (the Makefile does). Inputs (environment variables, all optional):
  CDK_ENV            dev (default) or prod
  IMAGE_TAG          image tag (default: git commit, plus -dirty-<UTC time> for a dirty tree)
  CONTAINER_ENGINE   docker (default) or podman
  ADMIN_PRINCIPAL_ARN, API_ALLOWED_CIDRS, CERTIFICATE_ARN, REPOSITORY_NAME
                     passed to CDK as -c adminPrincipalArn=... etc. (see users_api_infra.settings)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from users_api_infra.versions import CHART_PATH, HELM_RELEASE, NAMESPACE, SERVICE_ACCOUNT

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_DIR_REL = "cdk"
DOCKERFILE = "container/Dockerfile"
IMAGE_PLATFORM = "linux/amd64"  # the NodePool runs amd64 nodes only
HELM_TIMEOUT = "10m"

# Context keys the flow forwards to `cdk deploy`, from these environment variables.
CONTEXT_FROM_ENV = {
    "adminPrincipalArn": "ADMIN_PRINCIPAL_ARN",
    "apiAllowedCidrs": "API_ALLOWED_CIDRS",
    "certificateArn": "CERTIFICATE_ARN",
    "repositoryName": "REPOSITORY_NAME",
}

# Helm value key -> (stack role, CloudFormation output key). The chart's values.yaml documents
# these keys; config.* become the app's environment (USERS_TABLE, AVATARS_BUCKET, AWS_REGION).
HELM_VALUES_FROM_OUTPUTS = {
    "image.repository": ("registry", "RepositoryUri"),
    "config.usersTable": ("data", "UsersTableName"),
    "config.avatarsBucket": ("data", "AvatarsBucketName"),
    "config.awsRegion": ("data", "AwsRegion"),
}


@dataclass(frozen=True)
class Step:
    title: str
    command: str  # one shell command line, run with `bash -o pipefail -c` from the repo root


class StackOutputs:
    """Stack outputs as written by ``cdk deploy --outputs-file`` (placeholders until then)."""

    def __init__(self, env_name: str, data: dict[str, dict[str, str]] | None):
        self.env_name = env_name
        self.data = data or {}

    @classmethod
    def load(cls, env_name: str, path: Path) -> StackOutputs:
        return cls(env_name, json.loads(path.read_text()) if path.exists() else None)

    @property
    def complete(self) -> bool:
        return all(self._value(role, key) is not None for role, key in _NEEDED_OUTPUTS)

    def _value(self, role: str, key: str) -> str | None:
        return self.data.get(stack_name(self.env_name, role), {}).get(key)

    def get(self, role: str, key: str) -> str:
        value = self._value(role, key)
        return value if value is not None else f"<{stack_name(self.env_name, role)}.{key}>"


_NEEDED_OUTPUTS = (*HELM_VALUES_FROM_OUTPUTS.values(), ("cluster", "ClusterName"))


def stack_name(env_name: str, role: str) -> str:
    return f"users-api-{env_name}-{role}"


def outputs_file(env_name: str) -> str:
    """Relative to the repository root."""
    return f"{CDK_DIR_REL}/cdk.out/outputs-{env_name}.json"


def kube_context(env_name: str) -> str:
    return f"users-api-{env_name}"


def default_image_tag() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed git argv
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True  # noqa: S607
        ).stdout.strip()

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return f"build-{stamp}"
    try:
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.CalledProcessError):
        dirty = True
    # Tags are immutable in ECR: a dirty tree gets a unique tag instead of reusing the commit's.
    return f"{commit}-dirty-{stamp}" if dirty else commit


def cdk_context_args(env_name: str, environ: dict[str, str]) -> list[str]:
    args = ["-c", f"env={env_name}"]
    for key, var in CONTEXT_FROM_ENV.items():
        if environ.get(var):
            args += ["-c", f"{key}={environ[var]}"]
    return args


def _q(*parts: str) -> str:
    return " ".join(shlex.quote(part) for part in parts)


def cdk_command(env_name: str, action: str, environ: dict[str, str]) -> str:
    """The cdk CLI call (npm-pinned in cdk/package.json), run inside cdk/ with the repo's venv."""
    extra = []
    if action == "deploy":
        extra = [
            "--require-approval", "broadening",
            "--outputs-file", f"cdk.out/outputs-{env_name}.json",
        ]
    if action == "destroy":
        extra = ["--force"]
    return (
        f"cd {CDK_DIR_REL} && "
        + _q(
            "npx", "--no-install", "cdk", action, "--all",
            "--app", "../.venv/bin/python app.py",
            "--output", f"cdk.out/{env_name}",
            *cdk_context_args(env_name, environ),
            *extra,
        )
    )


def deploy_plan(
    env_name: str,
    outputs: StackOutputs,
    *,
    image_tag: str,
    environ: dict[str, str] | None = None,
) -> list[Step]:
    environ = dict(os.environ if environ is None else environ)
    engine = environ.get("CONTAINER_ENGINE") or "docker"
    region = outputs.get("data", "AwsRegion")
    repository = outputs.get("registry", "RepositoryUri")
    registry = repository.split("/", 1)[0]
    cluster = outputs.get("cluster", "ClusterName")
    image = f"{repository}:{image_tag}"
    context = kube_context(env_name)

    helm_values = {key: outputs.get(*source) for key, source in HELM_VALUES_FROM_OUTPUTS.items()}
    helm_sets: list[str] = []
    for key, value in helm_values.items():
        helm_sets += ["--set-string", f"{key}={value}"]
    helm_sets += ["--set-string", f"image.tag={image_tag}"]
    helm_sets += ["--set-string", f"serviceAccount.name={SERVICE_ACCOUNT}"]
    # EKS Pod Identity needs no ServiceAccount annotation (that is IRSA's eks.amazonaws.com/role-arn).
    helm_sets += ["--set-json", "serviceAccount.annotations={}"]

    return [
        Step(
            "1/6 Provision the data, registry and cluster stacks (outputs -> "
            f"{outputs_file(env_name)})",
            cdk_command(env_name, "deploy", environ),
        ),
        Step(
            "2/6 Log the container engine in to the ECR registry",
            f"aws ecr get-login-password --region {shlex.quote(region)} | "
            + _q(engine, "login", "--username", "AWS", "--password-stdin", registry),
        ),
        Step(
            f"3/6 Build the image for {IMAGE_PLATFORM} and push it (immutable tag {image_tag})",
            _q(engine, "build", "--platform", IMAGE_PLATFORM, "-f", DOCKERFILE, "-t", image, ".")
            + " && "
            + _q(engine, "push", image),
        ),
        Step(
            f"4/6 Point kubectl/helm at the cluster (kube context {context})",
            _q("aws", "eks", "update-kubeconfig", "--name", cluster, "--region", region,
               "--alias", context),
        ),
        Step(
            "5/6 Install or upgrade the Helm release with values from the stack outputs",
            _q(
                "helm", "upgrade", "--install", HELM_RELEASE, CHART_PATH,
                "--kube-context", context,
                "--namespace", NAMESPACE, "--create-namespace",
                *helm_sets,
                "--rollback-on-failure", "--wait=watcher", "--timeout", HELM_TIMEOUT,
            ),
        ),
        Step(
            "6/6 Smoke-test the release (the chart's /readyz test pod)",
            _q("helm", "test", HELM_RELEASE, "--kube-context", context, "--namespace", NAMESPACE,
               "--timeout", "5m"),
        ),
    ]


def destroy_plan(
    env_name: str, outputs: StackOutputs, *, environ: dict[str, str] | None = None
) -> list[Step]:
    environ = dict(os.environ if environ is None else environ)
    context = kube_context(env_name)
    steps = [
        Step(
            "1/3 Point kubectl/helm at the cluster",
            _q("aws", "eks", "update-kubeconfig", "--name", outputs.get("cluster", "ClusterName"),
               "--region", outputs.get("data", "AwsRegion"), "--alias", context),
        ),
        Step(
            "2/3 Uninstall the release first, so the ALB and its security groups are deleted "
            "before CloudFormation deletes the VPC",
            _q("helm", "uninstall", HELM_RELEASE, "--kube-context", context,
               "--namespace", NAMESPACE, "--wait", "--ignore-not-found"),
        ),
        Step(
            "3/3 Delete the stacks (prod keeps the table, avatars and log buckets and the ECR "
            "repository: RETAIN + deletion protection; prod stacks also have termination "
            "protection, which has to be switched off first)",
            cdk_command(env_name, "destroy", environ),
        ),
    ]
    return steps


def plan_notes(env_name: str, environ: dict[str, str] | None = None) -> list[str]:
    """Warnings about inputs the flow needs from the person deploying."""
    environ = dict(os.environ if environ is None else environ)
    notes = []
    if not environ.get("ADMIN_PRINCIPAL_ARN"):
        notes.append(
            "ADMIN_PRINCIPAL_ARN is unset: no EKS access entry is created for you, so steps 4-6 "
            "only work if your IAM role already has one. Set it to your IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>, not the sts assumed-role ARN)."
        )
    if env_name == "prod" and not environ.get("API_ALLOWED_CIDRS"):
        notes.append(
            "prod without API_ALLOWED_CIDRS has a private-only Kubernetes API endpoint: run "
            "steps 4-6 from inside the VPC (VPN, SSM bastion, in-VPC CI runner) or set "
            "API_ALLOWED_CIDRS=<your egress IP>/32."
        )
    return notes


def print_plan(
    steps: list[Step], *, header: str, notes: list[str] | None = None, out=sys.stdout
) -> None:
    print(f"# {header}", file=out)
    for note in notes or []:
        print(f"# NOTE: {note}", file=out)
    for step in steps:
        print(f"\n# {step.title}\n{step.command}", file=out)


def run_steps(steps: list[Step]) -> None:
    for step in steps:
        print(f"\n==> {step.title}\n    {step.command}", flush=True)
        subprocess.run(  # noqa: S603 - the commands are the printed, reviewed plan
            ["bash", "-o", "pipefail", "-c", step.command], cwd=REPO_ROOT, check=True  # noqa: S607
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="users-api deploy flow")
    parser.add_argument("action", choices=("plan", "run", "destroy-plan", "destroy"))
    parser.add_argument("--env", default=os.environ.get("CDK_ENV") or "dev",
                        choices=("dev", "prod"))
    parser.add_argument("--image-tag", default=os.environ.get("IMAGE_TAG") or None)
    args = parser.parse_args(argv)

    outputs_path = REPO_ROOT / outputs_file(args.env)
    outputs = StackOutputs.load(args.env, outputs_path)

    if args.action in ("destroy-plan", "destroy"):
        steps = destroy_plan(args.env, outputs)
        if args.action == "destroy-plan":
            print_plan(steps, header=f"users-api teardown ({args.env}); nothing is run")
        else:
            if not outputs.complete:
                print(f"no stack outputs in {outputs_path}; run the teardown by hand "
                      "(make destroy-plan)", file=sys.stderr)
                return 2
            run_steps(steps)
        return 0

    image_tag = args.image_tag or default_image_tag()
    if args.action == "plan":
        note = "" if outputs.complete else " (<stack.Output> placeholders fill in after step 1)"
        print_plan(
            deploy_plan(args.env, outputs, image_tag=image_tag),
            header=f"users-api deploy flow ({args.env}); nothing is run{note}",
            notes=plan_notes(args.env),
        )
        return 0

    # run: step 1 first, then the rest with the fresh outputs.
    for note in plan_notes(args.env):
        print(f"NOTE: {note}", file=sys.stderr)
    first, *_ = deploy_plan(args.env, outputs, image_tag=image_tag)
    run_steps([first])
    outputs = StackOutputs.load(args.env, outputs_path)
    if not outputs.complete:
        print(f"cdk deploy did not write the expected outputs to {outputs_path}", file=sys.stderr)
        return 2
    _, *rest = deploy_plan(args.env, outputs, image_tag=image_tag)
    run_steps(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
