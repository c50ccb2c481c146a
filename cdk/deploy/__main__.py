"""``python -m deploy ACTION`` (run from the repository root, ``cdk/`` on PYTHONPATH).

  plan            print the whole deploy flow; runs nothing (reads the stack outputs from
                  CloudFormation when a region is chosen and credentials work, else placeholders)
  run             the deploy (make deploy): preflight, then every step of the plan
  preflight       only the checks `run` makes first
  destroy-plan    print the teardown
  destroy         the teardown (make destroy): outputs from CloudFormation, helm uninstall,
                  cdk destroy
  cdk bootstrap|diff|synth   the cdk command for the chosen account and region, after the
                  region and credential checks (make cdk-bootstrap, cdk-diff, deploy-synth)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from deploy import flow
from deploy.aws import Aws, AwsError, OutputConflict
from deploy.inputs import DeployInputs, InputError
from deploy.preflight import Preflight, PreflightFailed, chosen_region
from deploy.release import MissingOutputs


@dataclass
class PlanFacts:
    region: str | None = None
    outputs: dict = field(default_factory=dict)
    aws_cidrs: list[str] | None = None
    note: str = ""


def plan_facts(environ: Mapping[str, str], env_name: str, *, cidrs: bool = True) -> PlanFacts:
    """What a plan can show: the live outputs (and prefix-list CIDRs) when a region is chosen and
    the credentials work; placeholders otherwise. Read-only, and never fails."""
    region = chosen_region(environ)
    if not region:
        return PlanFacts(note="no region chosen (AWS_REGION): values from stack outputs show as "
                              "<OutputKey>, and step 7 gets the step-3 CIDRs only when it runs")
    aws = Aws(region)
    try:
        outputs = aws.stack_outputs(env_name)
        aws_cidrs = aws.gateway_cidrs() if cidrs else None
    except (*AwsError, OutputConflict, LookupError) as exc:
        return PlanFacts(region, note=f"AWS not readable ({type(exc).__name__}): stack outputs "
                                      "show as <OutputKey>")
    if not outputs:
        return PlanFacts(region, aws_cidrs=aws_cidrs,
                         note=f"no users-api-{env_name}-* stacks in {region} yet: <OutputKey> "
                              "values fill in after step 1")
    return PlanFacts(region, outputs, aws_cidrs, f"values from the live stacks in {region}")


def cmd_plan(inputs: DeployInputs, environ: Mapping[str, str]) -> int:
    inputs = inputs.with_image_tag()
    facts = plan_facts(environ, inputs.env_name)
    notes = [facts.note, *Preflight(environ, has_tty=lambda: True).check_inputs(inputs)]
    if not inputs.admin_principal_arn:
        notes.append("ADMIN_PRINCIPAL_ARN unset: `make deploy` derives it from your identity "
                     "(sts get-caller-identity)")
    if inputs.env_name == "prod" and not inputs.api_allowed_cidrs:
        notes.append("prod without API_ALLOWED_CIDRS has a private-only Kubernetes API endpoint: "
                     "run steps 6-9 from inside the VPC (VPN, SSM bastion, in-VPC CI runner) or "
                     "set API_ALLOWED_CIDRS=<your egress IP>/32.")
    steps = flow.deploy_steps(inputs, facts.outputs, region=facts.region or "<AWS_REGION>",
                              engine=inputs.container_engine or "docker",
                              aws_cidrs=facts.aws_cidrs, placeholders=True)
    flow.print_plan(steps, header=f"users-api deploy flow ({inputs.env_name}); nothing is run",
                    notes=notes)
    return 0


def cmd_destroy_plan(inputs: DeployInputs, environ: Mapping[str, str]) -> int:
    facts = plan_facts(environ, inputs.env_name, cidrs=False)
    steps = flow.destroy_steps(inputs, facts.outputs, region=facts.region or "<AWS_REGION>")
    flow.print_plan(steps, header=f"users-api teardown ({inputs.env_name}); nothing is run",
                    notes=[facts.note])
    return 0


def cmd_cdk(inputs: DeployInputs, environ: Mapping[str, str], action: str) -> int:
    context = Preflight(environ).for_cdk(inputs, bootstrap=action == "bootstrap")
    for note in context.notes:
        print(f"NOTE: {note}", file=sys.stderr)
    if action == "bootstrap":
        command = flow.bootstrap_command(context.account, context.region)
    else:
        command = flow.cdk_command(context.inputs, action, *(["--quiet"] if action == "synth" else []))
    step = flow.Step(f"cdk {action} ({context.account}/{context.region})", command)
    flow.run_shell(step, flow.aws_environ(context.region, environ))
    return 0


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(prog="python -m deploy", description="users-api deploy flow")
    parser.add_argument("action", choices=("plan", "run", "preflight", "destroy-plan", "destroy",
                                           "cdk"))
    parser.add_argument("cdk_action", nargs="?", choices=("bootstrap", "diff", "synth"))
    parser.add_argument("--env", choices=("dev", "prod"), default=None)
    parser.add_argument("--image-tag", default=None)
    args = parser.parse_args(argv)
    if (args.action == "cdk") != bool(args.cdk_action):
        parser.error("`cdk` takes one of bootstrap, diff, synth (and only `cdk` takes one)")
    try:
        inputs = DeployInputs.from_environ(environ, env_name=args.env, image_tag=args.image_tag)
        if args.action == "plan":
            return cmd_plan(inputs, environ)
        if args.action == "destroy-plan":
            return cmd_destroy_plan(inputs, environ)
        if args.action == "cdk":
            return cmd_cdk(inputs, environ, args.cdk_action)
        if args.action == "destroy":
            context, aws = Preflight(environ).for_destroy(inputs)
            return flow.run_destroy(context, aws)
        context = Preflight(environ).for_deploy(inputs.with_image_tag())
        print(f"preflight OK: account {context.account}, region {context.region}, engine "
              f"{context.engine}, caller {context.caller_arn}", flush=True)
        if args.action == "preflight":
            for note in context.notes:
                print(f"NOTE: {note}")
            return 0
        flow.run_deploy(context, Aws(context.region))
        return 0
    except PreflightFailed as exc:
        print(exc.code, file=sys.stderr)
        return 2
    except (InputError, MissingOutputs, OutputConflict, LookupError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except AwsError as exc:
        print(f"deploy: an AWS call failed: {exc}", file=sys.stderr)
        return 1
    except (TimeoutError, RuntimeError) as exc:  # the public check after the release
        print(f"deploy: the release is installed but not reachable: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"deploy: step failed with exit code {exc.returncode}; nothing after it ran "
              "(fix it and run the same make target again: every step is idempotent).",
              file=sys.stderr)
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
