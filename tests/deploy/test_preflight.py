"""The deploy's preflight: logic with fake probes, then the real paths against the embedded
emulator (moto server over HTTP) and the real helm/kubectl binaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from deploy.aws import Aws, PrincipalError, admin_principal_from_caller
from deploy.inputs import DeployInputs, InputError
from deploy.preflight import REGION_MISSING, Preflight, PreflightFailed, chosen_region

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGION = "eu-west-1"
TOOLS_OK = {
    ("aws", "--version"): "aws-cli/2.27.0 Python/3.13 Linux/6 exe/x86_64",
    ("helm", "version"): "v4.1.4",
    ("kubectl", "version"): '{"clientVersion": {"gitVersion": "v1.35.2"}}',
    ("docker", "info"): "x86_64",
}


def fake_runner(answers: dict[tuple[str, str], str | int | None]):
    """argv -> CompletedProcess from answers keyed by (program, first arg); None: not installed,
    an int: that exit code."""
    calls = []

    def run(argv):
        calls.append(list(argv))
        answer = answers.get((argv[0], argv[1]))
        if answer is None:
            return None
        if isinstance(answer, int):
            return subprocess.CompletedProcess(argv, answer, "", "failed")
        return subprocess.CompletedProcess(argv, 0, answer, "")

    run.calls = calls
    return run


class FakeAws:
    def __init__(self, arn="arn:aws:sts::123456789012:assumed-role/Deployer/alice",
                 bootstrap="CREATE_COMPLETE", role_arn=None, identity_error=None):
        self.arn, self.bootstrap, self._role_arn = arn, bootstrap, role_arn
        self.identity_error = identity_error
        self.region = REGION

    def caller_identity(self):
        if self.identity_error:
            raise self.identity_error
        return {"Account": "123456789012", "Arn": self.arn}

    def role_arn(self, name):
        if self._role_arn is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetRole")
        return self._role_arn

    def bootstrap_stack_status(self):
        return self.bootstrap


def preflight(environ=None, answers=None, aws=None, tty=True, binfmt=False):
    return Preflight(
        environ={"AWS_REGION": REGION} if environ is None else environ,
        run=fake_runner(TOOLS_OK if answers is None else answers),
        aws_factory=lambda region: aws or FakeAws(),
        has_tty=lambda: tty, binfmt_amd64=lambda: binfmt, profile=lambda environ: None,
    )


def problems_of(check) -> tuple[str, ...]:
    with pytest.raises(PreflightFailed) as caught:
        check()
    return caught.value.problems


# -- logic, with fakes ------------------------------------------------------------------------
def test_everything_present_passes_and_derives_the_admin_principal():
    context = preflight().for_deploy(DeployInputs())
    assert (context.region, context.account, context.engine) == (REGION, "123456789012", "docker")
    assert context.inputs.admin_principal_arn == "arn:aws:iam::123456789012:role/Deployer"
    assert "no role path" in context.notes[0]  # iam:GetRole refused: the path is lost, and said so
    assert "-c adminPrincipalArn=arn:aws:iam::123456789012:role/Deployer" in " ".join(
        context.inputs.cdk_context_args())


def test_a_given_admin_principal_is_kept():
    given = "arn:aws:iam::123456789012:role/ops/Admin"
    context = preflight().for_deploy(DeployInputs(admin_principal_arn=given))
    assert context.inputs.admin_principal_arn == given and not context.notes


def test_region_order_and_no_silent_default():
    profile = lambda environ: "ap-south-1"  # noqa: E731
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}
    assert chosen_region(both, profile) == "eu-west-1"
    assert chosen_region({"AWS_DEFAULT_REGION": "us-west-2"}, profile) == "us-west-2"
    assert chosen_region({}, profile) == "ap-south-1"
    assert chosen_region({"AWS_REGION": " "}, lambda environ: None) is None
    assert REGION_MISSING in problems_of(lambda: preflight(environ={}).for_deploy(DeployInputs()))


def test_each_missing_tool_is_one_sentence_saying_what_to_do():
    problems = problems_of(lambda: preflight(answers={}).for_deploy(DeployInputs()))
    assert len(problems) == 4
    aws_cli, helm, kubectl, engine = problems
    assert aws_cli.startswith("the AWS CLI is missing") and "install AWS CLI v2" in aws_cli
    assert "make tools" in helm and "make tools" in kubectl
    assert "docker is not installed; podman is not installed" in engine
    assert "CONTAINER_ENGINE" in engine
    for problem in problems:
        assert problem.count(". ") == 0 and problem.endswith(".")  # one sentence each


def test_helm_3_is_refused():
    answers = {**TOOLS_OK, ("helm", "version"): "v3.17.3"}
    (problem,) = problems_of(lambda: preflight(answers=answers).for_deploy(DeployInputs()))
    assert problem.startswith("helm v3.17.3 is not Helm 4")


def test_container_engine_must_build_amd64():
    arm = {**TOOLS_OK, ("docker", "info"): "aarch64", ("docker", "buildx"): "default  linux/arm64"}
    (problem,) = problems_of(lambda: preflight(answers=arm).for_deploy(DeployInputs()))
    assert "cannot build linux/amd64" in problem
    emulating = {**arm, ("docker", "buildx"): "default  linux/arm64, linux/amd64"}
    assert preflight(answers=emulating).for_deploy(DeployInputs()).engine == "docker"
    # docker without a daemon falls back to podman; podman on arm64 with QEMU binfmt passes
    podman = {**TOOLS_OK, ("docker", "info"): 1, ("podman", "info"): "arm64"}
    assert preflight(answers=podman, binfmt=True).for_deploy(DeployInputs()).engine == "podman"
    (problem,) = problems_of(lambda: preflight(answers=podman).for_deploy(
        DeployInputs(container_engine="docker")))
    assert "docker does not answer" in problem and "start docker" in problem


def test_credentials_and_bootstrap_stack():
    from botocore.exceptions import NoCredentialsError

    (problem,) = problems_of(lambda: preflight(aws=FakeAws(identity_error=NoCredentialsError()))
                             .for_deploy(DeployInputs()))
    assert problem.startswith("no working AWS credentials") and "aws sso login" in problem
    (problem,) = problems_of(lambda: preflight(aws=FakeAws(bootstrap=None)).for_deploy(DeployInputs()))
    assert "CDKToolkit does not exist in account 123456789012, region eu-west-1" in problem
    assert "make cdk-bootstrap" in problem
    (problem,) = problems_of(lambda: preflight(aws=FakeAws(bootstrap="ROLLBACK_COMPLETE"))
                             .for_deploy(DeployInputs()))
    assert "is ROLLBACK_COMPLETE" in problem


def test_non_interactive_mode():
    (problem,) = problems_of(lambda: preflight(tty=False).for_deploy(DeployInputs()))
    assert "NON_INTERACTIVE=1" in problem
    ci = DeployInputs.from_environ({"NON_INTERACTIVE": "1"})
    assert preflight(tty=False).for_deploy(ci).inputs.non_interactive
    with pytest.raises(InputError, match="NON_INTERACTIVE"):
        DeployInputs.from_environ({"NON_INTERACTIVE": "maybe"})


def test_prod_needs_a_certificate_and_its_host_name():
    problems = problems_of(lambda: preflight().for_deploy(DeployInputs(env_name="prod")))
    assert any("prod serves HTTPS only" in p for p in problems)
    problems = problems_of(lambda: preflight().for_deploy(
        DeployInputs(env_name="dev", certificate_arn="arn:aws:acm:eu-west-1:1:certificate/x")))
    assert problems == ("CERTIFICATE_ARN is set but API_HOSTNAME is not: set API_HOSTNAME to the "
                        "host name the certificate covers (the Ingress routes that host).",)


def test_no_aws_call_before_the_region_is_known():
    def no_aws(region):
        raise AssertionError("an AWS client was made without a region")

    flight = Preflight({}, run=fake_runner(TOOLS_OK), aws_factory=no_aws, has_tty=lambda: True,
                       profile=lambda environ: None)
    assert problems_of(lambda: flight.for_deploy(DeployInputs())) == (REGION_MISSING,)


@pytest.mark.parametrize(("caller", "expected"), [
    ("arn:aws:sts::123456789012:assumed-role/Deployer/alice", "arn:aws:iam::123456789012:role/Deployer"),
    ("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice@example.org",
     "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123"),
    ("arn:aws-cn:sts::123456789012:assumed-role/ci/run-42", "arn:aws-cn:iam::123456789012:role/ci"),
    ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
    ("arn:aws:iam::123456789012:role/ops/Admin", "arn:aws:iam::123456789012:role/ops/Admin"),
])
def test_admin_principal_from_the_caller(caller, expected):
    principal = admin_principal_from_caller(caller)
    assert principal.arn == expected
    if ":assumed-role/" in caller:
        assert "no role path" in principal.note


def test_admin_principal_path_comes_back_from_iam():
    full = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    principal = admin_principal_from_caller(
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice", lambda name: full)
    assert principal.arn == full and "iam:GetRole" in principal.note


@pytest.mark.parametrize("caller", ["arn:aws:iam::123456789012:root",
                                    "arn:aws:sts::123456789012:federated-user/bob"])
def test_identities_an_access_entry_cannot_name(caller):
    with pytest.raises(PrincipalError, match="set ADMIN_PRINCIPAL_ARN"):
        admin_principal_from_caller(caller)


# -- the real paths: moto server over HTTP, the real helm and kubectl ---------------------------
@pytest.fixture
def aws_environ(emulator, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("")
    environ = {
        "AWS_ENDPOINT_URL": emulator, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(config),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    requests_reset(emulator)
    return environ


def requests_reset(endpoint: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))


def session(environ) -> boto3.Session:
    return boto3.Session(aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
                         aws_session_token=environ.get("AWS_SESSION_TOKEN"), region_name=REGION)


def client(environ, service):
    return session(environ).client(service, endpoint_url=environ["AWS_ENDPOINT_URL"])


BOOTSTRAP_TEMPLATE = ('{"Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": '
                      '{"Name": "/cdk-bootstrap/hnb659fds/version", "Type": "String", "Value": "29"}}}}')


def tool_path(tmp_path: Path, *, with_aws: bool) -> str:
    """A PATH with the real helm 4 and kubectl (make tools), no container engine, and an AWS CLI
    only when asked (the CLI is not part of this project's environment; see deploy/aws.py)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("helm", "kubectl"):
        if not (BIN / tool).exists():
            pytest.skip(f"{tool} is not in the virtualenv (make tools)")
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(BIN / tool)
    if with_aws:
        real = subprocess.run(["bash", "-c", "command -v aws"], capture_output=True, text=True).stdout.strip()
        if not real:
            pytest.skip("no AWS CLI on this machine")
        (bin_dir / "aws").symlink_to(real)
    return str(bin_dir)  # nothing else: no container engine, no system AWS CLI


def run_preflight(environ, path) -> subprocess.CompletedProcess:
    env = {**environ, "PATH": path, "PYTHONPATH": f"{REPO_ROOT / 'cdk'}:{REPO_ROOT}",
           "NON_INTERACTIVE": "1", "IMAGE_TAG": "t", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([sys.executable, "-m", "deploy", "preflight"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_preflight_cli_against_the_emulator(aws_environ, tmp_path):
    """`python -m deploy preflight` through sts, CloudFormation and the real helm/kubectl."""
    proc = run_preflight(aws_environ, tool_path(tmp_path, with_aws=False))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith("preflight: ") for line in lines), proc.stderr
    text = proc.stderr
    assert "the AWS CLI is missing" in text
    assert "no container engine can build the image" in text
    assert "CDKToolkit does not exist in account 123456789012, region eu-west-1" in text
    assert "helm" not in text.replace("CDKToolkit", "")  # the real helm 4 passed
    assert "kubectl is missing" not in text
    # after cdk bootstrap (here: a CDKToolkit stack in the emulator's CloudFormation)
    cloudformation = client(aws_environ, "cloudformation")
    cloudformation.create_stack(StackName="CDKToolkit", TemplateBody=BOOTSTRAP_TEMPLATE)
    proc = run_preflight(aws_environ, tool_path(tmp_path, with_aws=False))
    assert "CDKToolkit" not in proc.stderr


def test_preflight_cli_without_credentials(aws_environ, tmp_path):
    environ = {k: v for k, v in aws_environ.items() if not k.startswith("AWS_ACCESS") and
               not k.startswith("AWS_SECRET")}
    proc = run_preflight(environ, tool_path(tmp_path, with_aws=False))
    assert "preflight: no working AWS credentials (sts get-caller-identity: Unable to locate " \
           "credentials)" in proc.stderr


def test_preflight_cli_without_a_region(aws_environ, tmp_path):
    environ = {k: v for k, v in aws_environ.items() if k != "AWS_REGION"}
    proc = run_preflight(environ, tool_path(tmp_path, with_aws=False))
    assert f"preflight: {REGION_MISSING}" in proc.stderr.splitlines()
    (tmp_path / "aws-config").write_text(f"[default]\nregion = {REGION}\n")  # the profile's region
    proc = run_preflight(environ, tool_path(tmp_path, with_aws=False))
    assert REGION_MISSING not in proc.stderr
    assert "region eu-west-1" in proc.stderr


def test_preflight_derives_the_admin_role_of_an_assumed_role_session(aws_environ, monkeypatch):
    """The real sts/iam calls: an SSO-style role with a path, assumed, then the preflight."""
    iam = client(aws_environ, "iam")
    role = iam.create_role(RoleName="AWSReservedSSO_Admin_0123", Path="/aws-reserved/sso.amazonaws.com/",
                           AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')["Role"]
    sts = client(aws_environ, "sts")
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="alice")["Credentials"]
    assumed = {**aws_environ, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"], "AWS_SESSION_TOKEN": creds["SessionToken"]}
    client(assumed, "cloudformation").create_stack(StackName="CDKToolkit", TemplateBody=BOOTSTRAP_TEMPLATE)
    for key, value in assumed.items():  # boto3's own configuration chain, as in `make deploy`
        monkeypatch.setenv(key, value)
    context = preflight(environ=assumed, aws=Aws(REGION)).for_deploy(DeployInputs())
    assert context.caller_arn == "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice"
    assert context.inputs.admin_principal_arn == role["Arn"]
    assert "/aws-reserved/sso.amazonaws.com/" in context.inputs.admin_principal_arn
    assert "iam:GetRole" in context.notes[0]


def test_real_aws_cli_and_engine_checks_on_this_machine():
    """The checks with the real runner: they agree with what this machine has."""
    import shutil

    flight = Preflight({"AWS_REGION": REGION})
    assert (flight.check_aws_cli() == []) == (shutil.which("aws") is not None)
    engine, problems = flight.check_engine(None)
    if problems:
        assert problems[0].endswith(".") and ("CONTAINER_ENGINE" in problems[0] or "binfmt" in problems[0])
    else:
        assert engine in ("docker", "podman")
