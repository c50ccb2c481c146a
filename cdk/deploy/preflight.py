"""Checks that run before the flow's first AWS call, so a deploy fails in seconds, not after
25 minutes of cluster creation. Each failure is one sentence that says what to do.

The checks take their probes as arguments (a command runner, an ``Aws`` factory, a TTY test),
so the logic is tested with fakes and the real paths against the embedded emulator.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import botocore.session
from botocore.exceptions import ProfileNotFound

from deploy.aws import AdminPrincipal, Aws, AwsError, PrincipalError, admin_principal_from_caller
from deploy.inputs import DeployInputs

# Commands run by the checks: argv -> CompletedProcess, or None when the program is missing.
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str] | None"]

IMAGE_PLATFORM = "linux/amd64"  # the cluster's NodePool runs amd64 nodes only
_AMD64 = ("amd64", "x86_64")
BINFMT_AMD64 = Path("/proc/sys/fs/binfmt_misc/qemu-x86_64")
_BOOTSTRAP_OK = re.compile(r"^(CREATE|UPDATE|UPDATE_ROLLBACK|IMPORT)_COMPLETE$")


class PreflightFailed(SystemExit):
    """Raised with every problem found; the flow prints them and stops before any change."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(f"preflight: {problem}" for problem in self.problems))


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        return subprocess.run(  # noqa: S603 - fixed tool argv from this module
            list(argv), capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 1, "", str(exc))


def profile_region(environ: Mapping[str, str]) -> str | None:
    """The region of the active profile (what `aws configure get region` prints)."""
    session = botocore.session.Session()
    if environ.get("AWS_PROFILE"):
        session.set_config_variable("profile", environ["AWS_PROFILE"])
    try:
        return session.get_scoped_config().get("region") or None
    except ProfileNotFound:
        return None


def chosen_region(environ: Mapping[str, str],
                  profile: Callable[[Mapping[str, str]], str | None] = profile_region) -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region; never a silent default."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if (environ.get(name) or "").strip():
            return environ[name].strip()
    return profile(environ)


REGION_MISSING = ("no AWS region chosen: set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in your"
                  " AWS profile); the deploy never defaults to us-east-1.")


@dataclass
class Context:
    """What the checks learned; the flow goes on with it."""

    inputs: DeployInputs
    region: str
    account: str = ""
    caller_arn: str = ""
    engine: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Preflight:
    environ: Mapping[str, str]
    run: Runner = run_command
    aws_factory: Callable[[str], Aws] = Aws
    has_tty: Callable[[], bool] = field(default=lambda: sys.stdin.isatty())
    binfmt_amd64: Callable[[], bool] = field(default=BINFMT_AMD64.exists)
    profile: Callable[[Mapping[str, str]], str | None] = profile_region

    # -- entry points -------------------------------------------------------------------------
    def for_deploy(self, inputs: DeployInputs) -> Context:
        """Everything `make deploy` needs, checked before its first AWS call."""
        problems: list[str] = []
        region = self._region(problems)
        problems += self.check_inputs(inputs)
        problems += self.check_aws_cli()
        problems += self.check_helm()
        problems += self.check_kubectl()
        engine, engine_problems = self.check_engine(inputs.container_engine)
        problems += engine_problems
        if not region:
            raise PreflightFailed(problems)
        context = Context(inputs=inputs, region=region, engine=engine)
        aws = self.aws_factory(region)
        if self._identity(aws, context, problems):
            self._admin_principal(aws, context, problems)
            problems += self.check_bootstrap(aws, context)
        if problems:
            raise PreflightFailed(problems)
        return context

    def for_destroy(self, inputs: DeployInputs) -> tuple[Context, Aws]:
        problems: list[str] = []
        region = self._region(problems)
        problems += self.check_aws_cli() + self.check_helm() + self.check_kubectl()
        if not region:
            raise PreflightFailed(problems)
        context = Context(inputs=inputs, region=region)
        aws = self.aws_factory(region)
        self._identity(aws, context, problems)
        if problems:
            raise PreflightFailed(problems)
        return context, aws

    def for_cdk(self, inputs: DeployInputs, *, bootstrap: bool = False) -> Context:
        """Region and credentials for cdk bootstrap/diff/synth-for-deploy (and the admin ARN
        they put into the templates); bootstrap itself needs no existing bootstrap stack."""
        problems: list[str] = []
        region = self._region(problems)
        if not region:
            raise PreflightFailed(problems)
        context = Context(inputs=inputs, region=region)
        aws = self.aws_factory(region)
        if self._identity(aws, context, problems) and not bootstrap:
            self._admin_principal(aws, context, problems)
        if problems:
            raise PreflightFailed(problems)
        return context

    # -- single checks -----------------------------------------------------------------------
    def _region(self, problems: list[str]) -> str | None:
        region = chosen_region(self.environ, self.profile)
        if not region:
            problems.append(REGION_MISSING)
        return region

    def check_inputs(self, inputs: DeployInputs) -> list[str]:
        problems = []
        if inputs.env_name == "prod" and not inputs.certificate_arn:
            problems.append("prod serves HTTPS only: set CERTIFICATE_ARN to an ACM certificate "
                            "(in the deploy region) and API_HOSTNAME to the host name it covers.")
        if inputs.certificate_arn and not inputs.api_hostname:
            problems.append("CERTIFICATE_ARN is set but API_HOSTNAME is not: set API_HOSTNAME to "
                            "the host name the certificate covers (the Ingress routes that host).")
        if not inputs.non_interactive and not self.has_tty():
            problems.append("no terminal to approve IAM and security-group changes: run in a "
                            "terminal, or set NON_INTERACTIVE=1 to deploy without approval (CI).")
        return problems

    def check_aws_cli(self) -> list[str]:
        proc = self.run(["aws", "--version"])
        if proc is None or proc.returncode != 0:
            return ["the AWS CLI is missing (`aws --version` failed): install AWS CLI v2; kubectl "
                    "calls `aws eks get-token` and the ECR login needs it."]
        return []

    def check_helm(self) -> list[str]:
        proc = self.run(["helm", "version", "--template", "{{.Version}}"])
        if proc is None or proc.returncode != 0:
            return ["helm is missing: run `make tools` (it puts Helm 4 into .venv/bin, which the "
                    "flow puts first on PATH)."]
        version = proc.stdout.strip()
        if not version.startswith("v4."):
            return [f"helm {version or '(unknown version)'} is not Helm 4 (the flow uses "
                    "--rollback-on-failure and --wait=watcher): run `make tools`."]
        return []

    def check_kubectl(self) -> list[str]:
        proc = self.run(["kubectl", "version", "--client", "-o", "json"])
        if proc is None or proc.returncode != 0:
            return ["kubectl is missing: run `make tools` (it puts kubectl into .venv/bin)."]
        return []

    def check_engine(self, wanted: str | None) -> tuple[str, list[str]]:
        """The container engine to use, and whether it can build linux/amd64 images."""
        candidates = (wanted,) if wanted else ("docker", "podman")
        reasons = []
        for engine in candidates:
            template = "{{.Architecture}}" if engine == "docker" else "{{.Host.Arch}}"
            proc = self.run([engine, "info", "--format", template])
            if proc is None:
                reasons.append(f"{engine} is not installed")
                continue
            if proc.returncode != 0:
                reasons.append(f"{engine} does not answer (`{engine} info` failed)")
                continue
            arch = proc.stdout.strip()
            if arch in _AMD64 or self._emulates_amd64(engine):
                return engine, []
            return engine, [
                f"{engine} runs on {arch} and cannot build {IMAGE_PLATFORM} images: register "
                "QEMU's amd64 binfmt handler (e.g. the tonistiigi/binfmt image) or deploy from an "
                "amd64 machine."
            ]
        hint = "start Docker" if not wanted else f"start {wanted}"
        return "", [f"no container engine can build the image ({'; '.join(reasons)}): {hint}, or "
                    "set CONTAINER_ENGINE=docker|podman to the one you have."]

    def _emulates_amd64(self, engine: str) -> bool:
        if engine == "docker":
            proc = self.run(["docker", "buildx", "ls"])
            return bool(proc and proc.returncode == 0 and IMAGE_PLATFORM in proc.stdout)
        return self.binfmt_amd64()

    def _identity(self, aws: Aws, context: Context, problems: list[str]) -> bool:
        try:
            identity = aws.caller_identity()
        except AwsError as exc:
            problems.append(f"no working AWS credentials (sts get-caller-identity: {_short(exc)}): "
                            "log in (aws sso login, or aws configure) and run it again.")
            return False
        context.account, context.caller_arn = identity["Account"], identity["Arn"]
        return True

    def _admin_principal(self, aws: Aws, context: Context, problems: list[str]) -> None:
        if context.inputs.admin_principal_arn:
            return
        try:
            principal: AdminPrincipal = admin_principal_from_caller(context.caller_arn, aws.role_arn)
        except PrincipalError as exc:
            problems.append(str(exc))
            return
        context.inputs = replace(context.inputs, admin_principal_arn=principal.arn)
        context.notes.append(principal.note or f"ADMIN_PRINCIPAL_ARN={principal.arn} (you)")

    def check_bootstrap(self, aws: Aws, context: Context) -> list[str]:
        try:
            status = aws.bootstrap_stack_status()
        except AwsError as exc:
            return [f"cannot read the CDK bootstrap stack ({_short(exc)}): allow "
                    "cloudformation:DescribeStacks, or check the region."]
        where = f"account {context.account}, region {context.region}"
        if status is None:
            return [f"the CDK bootstrap stack CDKToolkit does not exist in {where}: run "
                    "`make cdk-bootstrap` once."]
        if not _BOOTSTRAP_OK.match(status):
            return [f"the CDK bootstrap stack CDKToolkit is {status} in {where}: fix or delete it "
                    "in the CloudFormation console, then run `make cdk-bootstrap`."]
        return []


def _short(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text if len(text) < 200 else text[:197] + "..."

