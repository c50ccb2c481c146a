"""Deploy and remove the serverless target: ``python -m users_api_infra.serverless_flow
plan|deploy|destroy-plan|destroy`` (``make serverless-plan``, ``make deploy-serverless``,
``make serverless-destroy-plan``, ``make destroy-serverless``).

Inputs (environment): CDK_ENV (dev|prod, default dev), AWS_REGION (required to deploy or
destroy: no silent default for a command that talks to AWS), SERVERLESS_ARCH (arm64|x86_64,
default arm64), SERVERLESS_RESERVED_CONCURRENCY (optional). Credentials come from the AWS SDK's
default chain (your profile or SSO session); the account must be bootstrapped once
(``make cdk-bootstrap``).

deploy: build the function's code (api/devtools/lambda_bundle.py: the locked wheels for the
Lambda runtime, no Docker), ``cdk deploy`` the serverless stack (CDK deploys the stacks it
depends on first: the data stack and the avatar CDN, never the registry or the cluster), then
ask the deployed API's /healthz. destroy: delete the serverless stack only, by name through
CloudFormation (no synth, so a fresh clone can do it); the table, the bucket and the CDN stay,
as they are shared with the EKS target.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CDK_DIR = Path(__file__).resolve().parents[1]
REPO = CDK_DIR.parent
BUNDLE_DIR = "build/serverless-bundle"  # relative to cdk/, as serverless_stack.DEFAULT_BUNDLE_DIR
ENVIRONMENTS = ("dev", "prod")


class FlowError(RuntimeError):
    pass


@dataclass(frozen=True)
class Inputs:
    env: str
    region: str | None
    arch: str
    reserved_concurrency: str | None

    @property
    def stack(self) -> str:
        return f"users-api-{self.env}-serverless"


def inputs_from(environ: dict[str, str]) -> Inputs:
    env = environ.get("CDK_ENV") or "dev"
    if env not in ENVIRONMENTS:
        raise FlowError(f"CDK_ENV must be dev or prod, got {env!r}")
    arch = environ.get("SERVERLESS_ARCH") or "arm64"
    if arch not in ("arm64", "x86_64"):
        raise FlowError(f"SERVERLESS_ARCH must be arm64 or x86_64, got {arch!r}")
    reserved = environ.get("SERVERLESS_RESERVED_CONCURRENCY") or None
    if reserved is not None and not (reserved.isdigit() and int(reserved) > 0):
        raise FlowError(f"SERVERLESS_RESERVED_CONCURRENCY must be a positive integer, got {reserved!r}")
    return Inputs(env, environ.get("AWS_REGION") or None, arch, reserved)


@dataclass(frozen=True)
class Step:
    why: str
    argv: tuple[str, ...]
    cwd: Path = REPO

    def show(self) -> str:
        where = "" if self.cwd == REPO else f"cd {self.cwd.relative_to(REPO)} && "
        return where + shlex.join(self.argv)


def deploy_steps(inputs: Inputs, python: str) -> list[Step]:
    """`python`: the project's interpreter (its virtualenv's), named relative to each step's
    working directory so the plan reads the same on every machine."""
    python_from_cdk = os.path.relpath(python, CDK_DIR)
    python = os.path.relpath(python, REPO)
    context = ["-c", f"env={inputs.env}", "-c", "serverless=true",
               "-c", f"serverlessBundle={BUNDLE_DIR}"]
    if inputs.reserved_concurrency:
        context += ["-c", f"serverlessReservedConcurrency={inputs.reserved_concurrency}"]
    return [
        Step("Build the function's code: app.py, chalicelib/, the locked wheels for the Lambda "
             f"runtime ({inputs.arch}), the route manifest",
             (python, "api/devtools/lambda_bundle.py", "--out", f"cdk/{BUNDLE_DIR}",
              "--arch", inputs.arch)),
        Step(f"Deploy {inputs.stack} (and first the stacks it uses: data, avatar CDN)",
             ("npx", "--no-install", "cdk", "deploy", inputs.stack, "--app",
              f"{python_from_cdk} app.py", *context, "--require-approval", "never",
              "--no-notices", "--outputs-file", f"{BUNDLE_DIR}-outputs.json"),
             CDK_DIR),
    ]


def unprotect_command(inputs: Inputs) -> str:
    return (f"aws cloudformation update-termination-protection --no-enable-termination-protection "
            f"--stack-name {inputs.stack} --region {inputs.region}")


def destroy_steps(inputs: Inputs) -> list[str]:
    return [f"aws cloudformation delete-stack --stack-name {inputs.stack} --region {inputs.region}",
            f"aws cloudformation wait stack-delete-complete --stack-name {inputs.stack} "
            f"--region {inputs.region}"]


def plan(inputs: Inputs, python: str) -> str:
    lines = [f"Deploy the serverless target ({inputs.env}, region "
             f"{inputs.region or '<AWS_REGION, required>'}):"]
    for number, step in enumerate(deploy_steps(inputs, python), 1):
        lines += [f"  {number}. {step.why}", f"       {step.show()}"]
    lines += ["  3. Check the deployed API: GET <ApiUrl>healthz must answer 200 {\"status\": \"ok\"}",
              f"       (ApiUrl: the {inputs.stack} output, from cdk/{BUNDLE_DIR}-outputs.json)"]
    return "\n".join(lines)


def destroy_plan(inputs: Inputs) -> str:
    lines = [f"Remove the serverless target ({inputs.env}): only {inputs.stack}; the data stack "
             "and the avatar CDN stay (the EKS target shares them)."]
    shown = Inputs(inputs.env, inputs.region or "<AWS_REGION>", inputs.arch,
                   inputs.reserved_concurrency)
    lines += [f"  {n}. {command}" for n, command in enumerate(destroy_steps(shown), 1)]
    if inputs.env == "prod":
        lines.append("  prod stacks are termination-protected: the delete is refused until you run "
                     f"{unprotect_command(shown)}")
    lines.append("  Left in the account on purpose: API Gateway's account-wide CloudWatch role "
                 "(RETAIN), which every REST API with logs in the region uses.")
    return "\n".join(lines)


def check_health(api_url: str) -> None:
    url = api_url.rstrip("/") + "/healthz"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - https URL we deployed
        body = json.loads(response.read())
    if response.status != 200 or body != {"status": "ok"}:
        raise FlowError(f"{url} answered {response.status} {body}")
    print(f"{url}: 200 {body}")


def deploy(inputs: Inputs, python: str) -> None:
    if not inputs.region:
        raise FlowError("set AWS_REGION to the region to deploy to")
    for step in deploy_steps(inputs, python):
        print(f"+ {step.show()}", flush=True)
        subprocess.run(step.argv, cwd=step.cwd, check=True)  # noqa: S603 - our own argv
    outputs = json.loads((CDK_DIR / f"{BUNDLE_DIR}-outputs.json").read_text())
    check_health(outputs[inputs.stack]["ApiUrl"])


def destroy(inputs: Inputs) -> None:
    if not inputs.region:
        raise FlowError("set AWS_REGION to the region of the stack")
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=inputs.region)
    stacks = cloudformation.list_stacks()["StackSummaries"]
    if not any(s["StackName"] == inputs.stack and s["StackStatus"] != "DELETE_COMPLETE"
               for s in stacks):
        print(f"{inputs.stack}: no such stack in {inputs.region}, nothing to delete")
        return
    described = cloudformation.describe_stacks(StackName=inputs.stack)["Stacks"][0]
    if described.get("EnableTerminationProtection"):
        raise FlowError(f"{inputs.stack} is termination-protected (prod); if you mean it, run "
                        f"{unprotect_command(inputs)} and try again")
    print(f"+ delete-stack {inputs.stack}", flush=True)
    cloudformation.delete_stack(StackName=inputs.stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=inputs.stack)
    print(f"{inputs.stack}: deleted")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    python = os.path.abspath(sys.executable)  # the venv's own path, not the interpreter it links to
    if len(args) != 1 or args[0] not in ("plan", "deploy", "destroy-plan", "destroy"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        inputs = inputs_from(dict(os.environ))
        if args[0] == "plan":
            print(plan(inputs, python))
        elif args[0] == "destroy-plan":
            print(destroy_plan(inputs))
        elif args[0] == "deploy":
            deploy(inputs, python)
        else:
            destroy(inputs)
    except (FlowError, subprocess.CalledProcessError) as error:
        print(f"serverless: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
