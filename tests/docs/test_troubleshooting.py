"""The README's Troubleshooting quotes the messages the code really prints.

Every line of its ```text blocks is a message (`<…>` stands for a variable part). The messages
are produced here from the code itself: the preflight through its probes (fakes, so every
failure can be had), `make run`'s taken-port check and the LocalStack targets' Docker check for
real. A message the code prints that the README does not quote fails, and so does a quoted line
that no case produces, so the section can neither fall behind nor invent a message.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from deploy.inputs import DeployInputs
from deploy.preflight import Preflight, PreflightFailed
from tests.docs.diagrams import REPO

CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
TOOLS_OK = {"aws": "aws-cli/2.27.0", "helm": "v4.1.4", "kubectl": "{}", "docker": "x86_64",
            "podman": "amd64"}


def troubleshooting_lines() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```text\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def pattern(line: str) -> re.Pattern:
    return re.compile("".join(".+" if part.startswith("<") else re.escape(part)
                              for part in re.split(r"(<[^>]*>)", line)))


def quoted(message: str, lines: list[str]) -> str | None:
    return next((line for line in lines if pattern(line).fullmatch(message)), None)


# -- the preflight, with the probes it takes --------------------------------------------------
class FakeAws:
    def __init__(self, arn="arn:aws:iam::123456789012:role/Deployer", bootstrap="CREATE_COMPLETE",
                 identity_error=None, bootstrap_error=None):
        self.arn, self.bootstrap = arn, bootstrap
        self.identity_error, self.bootstrap_error = identity_error, bootstrap_error

    def caller_identity(self):
        if self.identity_error:
            raise self.identity_error
        return {"Account": "123456789012", "Arn": self.arn}

    def role_arn(self, name):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetRole")

    def bootstrap_stack_status(self):
        if self.bootstrap_error:
            raise self.bootstrap_error
        return self.bootstrap


def runner(answers):
    def run(argv):
        answer = answers.get(argv[0])
        if answer is None:
            return None
        if isinstance(answer, int):
            return subprocess.CompletedProcess(list(argv), answer, "", "failed")
        return subprocess.CompletedProcess(list(argv), 0, answer, "")
    return run


def preflight_problems(environ=None, tools=None, aws=None, tty=True, **inputs) -> tuple[str, ...]:
    check = Preflight(environ={"AWS_REGION": "eu-west-1"} if environ is None else environ,
                      run=runner({**TOOLS_OK, **(tools or {})}),
                      aws_factory=lambda region: aws or FakeAws(), has_tty=lambda: tty,
                      binfmt_amd64=lambda: False, profile=lambda environ: None)
    with pytest.raises(PreflightFailed) as failed:
        check.for_deploy(DeployInputs(**inputs))
    return failed.value.problems


PREFLIGHT_CASES = {
    "no region": lambda: preflight_problems(environ={}),
    "prod without a certificate": lambda: preflight_problems(env_name="prod"),
    "certificate without a host name": lambda: preflight_problems(certificate_arn=CERTIFICATE),
    "no terminal": lambda: preflight_problems(tty=False),
    "no AWS CLI": lambda: preflight_problems(tools={"aws": None}),
    "no helm": lambda: preflight_problems(tools={"helm": None}),
    "helm 3": lambda: preflight_problems(tools={"helm": "v3.17.0"}),
    "no kubectl": lambda: preflight_problems(tools={"kubectl": None}),
    "docker chosen, no daemon": lambda: preflight_problems(tools={"docker": 1}, container_engine="docker"),
    "an arm64 engine": lambda: preflight_problems(tools={"docker": "aarch64"}),
    "no credentials": lambda: preflight_problems(aws=FakeAws(identity_error=NoCredentialsError())),
    "an identity no access entry can name": lambda: preflight_problems(
        aws=FakeAws(arn="arn:aws:sts::123456789012:federated-user/alice")),
    "bootstrap stack unreadable": lambda: preflight_problems(aws=FakeAws(bootstrap_error=ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DescribeStacks"))),
    "no bootstrap stack": lambda: preflight_problems(aws=FakeAws(bootstrap=None)),
    "bootstrap stack broken": lambda: preflight_problems(aws=FakeAws(bootstrap="ROLLBACK_COMPLETE")),
}


def test_every_preflight_failure_is_quoted_and_every_quoted_preflight_line_happens():
    lines = troubleshooting_lines()
    produced: dict[str, str] = {}
    for case, problems in PREFLIGHT_CASES.items():
        for problem in problems():
            produced[f"preflight: {problem}"] = case
    missing = {message: case for message, case in produced.items() if not quoted(message, lines)}
    assert not missing, f"preflight messages the README's Troubleshooting does not quote: {missing}"
    documented = [line for line in lines if line.startswith("preflight: ")]
    invented = [line for line in documented if not any(pattern(line).fullmatch(m) for m in produced)]
    assert not invented, f"quoted preflight lines no case produces: {invented}"


# -- make run and the LocalStack targets, for real --------------------------------------------
def clean_make_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}


def test_the_taken_emulator_port_message_is_quoted():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(REPO / "api" / "devtools" / "cli.py"), "run-local",
             "--emulator-port", str(port)],
            capture_output=True, text=True, timeout=60, check=False, env=clean_make_env())
    assert result.returncode != 0
    lines = troubleshooting_lines()
    for message in result.stderr.replace(str(port), "4566").splitlines():
        assert quoted(message, lines), f"not in the README's Troubleshooting: {message!r}"


@pytest.mark.parametrize("client", ["missing", "without compose", "without an engine"])
def test_the_docker_messages_of_the_localstack_targets_are_quoted(client, tmp_path):
    docker = tmp_path / "docker"
    if client != "missing":  # a stand-in client: `compose version` answers or not, `info` never
        compose = "0" if client == "without an engine" else "1"
        docker.write_text(f'#!/bin/sh\n[ "$1" = compose ] && exit {compose}\nexit 1\n')
        docker.chmod(0o755)
    result = subprocess.run(["make", "--no-print-directory", "localstack-up", f"DOCKER={docker}"],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
                            env=clean_make_env())
    assert result.returncode != 0
    messages = [line.replace(str(docker), "docker") for line in result.stderr.splitlines()
                if not line.startswith("make: ")]
    lines = troubleshooting_lines()
    assert messages
    for message in messages:
        assert quoted(message, lines), f"not in the README's Troubleshooting: {message!r}"


def test_the_no_credentials_message_of_a_second_terminal_is_quoted():
    env = {k: v for k, v in clean_make_env().items() if not k.startswith("AWS_")}
    env.update({"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"})
    result = subprocess.run([sys.executable, str(REPO / "api" / "manage.py"), "sweep-orphans"],
                            capture_output=True, text=True, timeout=60, check=False, env=env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert quoted(last, troubleshooting_lines()), f"not in the README's Troubleshooting: {last!r}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_taken_api_port_message_is_quoted(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port, metrics_port = taken.getsockname()[1], free_port()
        env = {**clean_make_env(), "PORT": str(port), "METRICS_PORT": str(metrics_port),
               "LOG_LEVEL": "WARNING"}
        result = subprocess.run(
            [sys.executable, str(REPO / "api" / "devtools" / "cli.py"), "run-local",
             "--emulator-port", str(free_port()), "--avatar-port", str(free_port())],
            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    message = message.replace(f" {port} (PORT)", " 8000 (PORT)").replace(f" {metrics_port} (", " 9090 (")
    assert quoted(message, troubleshooting_lines()), f"not in the README's Troubleshooting: {message!r}"


def test_the_taken_avatar_port_message_is_quoted():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(REPO / "api" / "devtools" / "cli.py"), "run-local",
             "--emulator-port", str(free_port()), "--avatar-port", str(port)],
            capture_output=True, text=True, timeout=60, check=False, env=clean_make_env())
    assert result.returncode != 0
    message = result.stderr.strip().replace(f"port {port} ", "port 8001 ")
    assert quoted(message, troubleshooting_lines()), f"not in the README's Troubleshooting: {message!r}"
