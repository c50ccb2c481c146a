"""One deploy rehearsal per test session, in three fixtures that build on each other:

``rehearsal``  deploy: private emulator, ``cdk bootstrap`` + ``cdk deploy`` of the session's dev
               assembly, what moto skipped created through the service APIs, every resource read
               back (tests/rehearsal/harness.py, inventory.py), the outputs as the deploy flow
               reads them (``deploy.aws``);
``smoke``      the real serving command configured from those outputs with the app role's
               credentials, a smoke through it, the sweep's dry run with the sweep role's
               credentials, every AWS call recorded (aws_call_recorder/);
``enforced``   moto's IAM enforcement switched on: the roles' credentials against allowed and
               forbidden calls; switched off again before the fixture returns.

The wall time of each phase is kept (``Rehearsed.seconds``); ``make deploy-rehearsal`` prints it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from deploy.aws import env_stacks, merge_outputs
from tests.fixtures.emulator import API_DIR, free_port
from tests.fixtures.images import image_bytes
from tests.rehearsal.harness import (
    API_PROVISIONED_STACKS,
    NOT_DEPLOYED_STACKS,
    Deployment,
    LiftedBucketPolicy,
    assume,
    session_for,
)
from tests.rehearsal.inventory import Inventory, verify_and_repair

ENV_NAME = "dev"
RECORDER_DIR = Path(__file__).resolve().parent / "aws_call_recorder"
RECORD_VARIABLE = "USERS_API_RECORD_AWS_CALLS"


@dataclass
class Rehearsed:
    deployment: Deployment
    stack_names: dict[str, str]  # role -> stack name
    inventories: dict[str, Inventory]  # stack name -> read-back
    outputs: dict[str, str]  # merged by OutputKey, as the deploy flow merges them
    cloudformation_outputs: dict[str, str]  # what deploy.aws read from CloudFormation alone
    seconds: dict[str, float] = field(default_factory=dict)

    def template(self, role: str) -> dict:
        return self.deployment.stacks[self.stack_names[role]].template


@pytest.fixture(scope="session")
def rehearsal(cdk_synth, tmp_path_factory) -> Iterator[Rehearsed]:
    started = time.monotonic()
    dev = cdk_synth[ENV_NAME]
    deployment = Deployment(dev.outdir, tmp_path_factory.mktemp("rehearsal"))
    try:
        deployment.bootstrap()
        by_cloudformation = [name for role, name in dev.stack_names.items()
                             if role not in API_PROVISIONED_STACKS and role not in NOT_DEPLOYED_STACKS]
        deployment.deploy(by_cloudformation)
        for name in by_cloudformation:
            deployment.create_skipped(deployment.stacks[name])
        for role in API_PROVISIONED_STACKS:
            deployment.provision_by_api(dev.stack_names[role])
        inventories = {name: verify_and_repair(deployment, record)
                       for name, record in deployment.stacks.items()}
        # The deploy flow's own read (describe-stacks of users-api-<env>-*), plus the stacks the
        # emulator's CloudFormation could not hold, merged by the flow's own rule.
        live = env_stacks(deployment.client("cloudformation"), ENV_NAME)
        others = [{"StackName": dev.stack_names[role], "Outputs": [
            {"OutputKey": k, "OutputValue": v}
            for k, v in deployment.stacks[dev.stack_names[role]].outputs.items()]}
            for role in API_PROVISIONED_STACKS]
        others += [{"StackName": dev.stack_names[role], "Outputs": [
            {"OutputKey": k, "OutputValue": v}
            for k, v in deployment.static_outputs(dev.stack_names[role]).items()]}
            for role in NOT_DEPLOYED_STACKS]
        rehearsed = Rehearsed(
            deployment=deployment, stack_names=dict(dev.stack_names), inventories=inventories,
            outputs=merge_outputs([*live, *others]), cloudformation_outputs=merge_outputs(live),
            seconds=deployment.seconds)
        rehearsed.seconds["deploy phase"] = time.monotonic() - started
        yield rehearsed
    finally:
        deployment.stop()
        TIMINGS.update(deployment.seconds)


TIMINGS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        line = ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"deploy rehearsal wall time: {line}")


# ---------------------------------------------------------------------- serve + smoke
@dataclass
class Smoke:
    base_url: str
    avatar_base_url: str  # the local avatar server (the distribution's stand-in)
    responses: dict[str, requests.Response]
    created: dict
    sweep: subprocess.CompletedProcess
    orphan_key: str
    orphan_kept: bool  # still there after the dry run
    table_emails: list[str]
    stored_avatar: dict | None
    app_calls: list[dict]
    sweep_calls: list[dict]
    app_credentials: dict[str, str]
    sweep_credentials: dict[str, str]
    lifted: LiftedBucketPolicy


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _avatar_server(deployment: Deployment, bucket: str):
    """The dev-only avatar server, playing the distribution's part: (server, port)."""
    from devtools.avatar_server import start_avatar_server

    port = free_port()
    # It reads with its own (here: the emulator's admin) credentials, as CloudFront reads through
    # origin access control; the bucket stays private.
    return start_avatar_server("127.0.0.1", port, deployment.client("s3"), bucket), port


@pytest.fixture(scope="session")
def smoke(rehearsal: Rehearsed, start_server, tmp_path_factory) -> Iterator[Smoke]:
    started = time.monotonic()
    d, outputs = rehearsal.deployment, rehearsal.outputs
    workdir = tmp_path_factory.mktemp("rehearsal-smoke")
    # The roles trust only pods.eks.amazonaws.com: assumed while enforcement is off (moto would
    # check the trust policy otherwise), never by loosening the trust policy.
    app_credentials = assume(d, outputs["AppRoleArn"], "rehearsal-app")
    sweep_credentials = assume(d, outputs["SweepRoleArn"], "rehearsal-sweep")
    lifted = LiftedBucketPolicy(d, outputs["AvatarsBucketName"])
    lifted.lift()  # see LiftedBucketPolicy: moto misreads the TLS-only denies
    served = _avatar_server(d, outputs["AvatarsBucketName"])
    avatar_base_url = f"http://127.0.0.1:{served[1]}"
    app_record = workdir / "app-calls.jsonl"
    config = {
        "USERS_TABLE": outputs["UsersTableName"],
        "AVATARS_BUCKET": outputs["AvatarsBucketName"],
        "AWS_REGION": outputs["AwsRegion"],
        # In AWS this is AvatarBaseUrl (the distribution); here the avatar server plays it.
        "AVATAR_BASE_URL": avatar_base_url,
    }
    recorder_path = os.pathsep.join([str(RECORDER_DIR), str(API_DIR)])
    env = d.client_env(**config, **app_credentials, PYTHONPATH=recorder_path,
                       **{RECORD_VARIABLE: str(app_record)})
    base_url, _ = start_server(env)
    responses = {}
    avatar = image_bytes()
    parts = {"name": (None, "Rehearsal User"), "email": (None, "rehearsal@example.org"),
             "avatar": ("a.png", avatar, "image/png")}
    responses["create"] = requests.post(f"{base_url}/user", files=parts, timeout=30)
    responses["duplicate"] = requests.post(f"{base_url}/user", files=parts, timeout=30)
    responses["list"] = requests.get(f"{base_url}/users", timeout=30)
    responses["readyz"] = requests.get(f"{base_url}/readyz", timeout=30)
    created = responses["create"].json() if responses["create"].status_code == 201 else {}
    # Read back while the bucket policy is lifted (see LiftedBucketPolicy).
    table_emails = [item["email"]["S"] for item in
                    d.client("dynamodb").scan(TableName=outputs["UsersTableName"])["Items"]]
    stored_avatar = None
    if created:
        key = created["avatar_url"].split("/", 3)[3]
        stored_avatar = d.client("s3").get_object(Bucket=outputs["AvatarsBucketName"], Key=key)
        stored_avatar = {"key": key, "content_type": stored_avatar["ContentType"],
                         "body": stored_avatar["Body"].read()}
    if created:
        responses["avatar"] = requests.get(created["avatar_url"], timeout=30)
    # An object no user references, so the sweep's dry run has something to report.
    orphan_key = "avatars/" + "0" * 32 + ".png"
    d.client("s3").put_object(Bucket=outputs["AvatarsBucketName"], Key=orphan_key, Body=avatar,
                              ContentType="image/png")
    sweep_record = workdir / "sweep-calls.jsonl"
    sweep_env = d.client_env(**config, **sweep_credentials, PYTHONPATH=recorder_path,
                             **{RECORD_VARIABLE: str(sweep_record)})
    sweep = subprocess.run(  # noqa: S603 - the operator's own command
        [sys.executable, str(API_DIR / "manage.py"), "sweep-orphans", "--grace-minutes", "0"],
        cwd=API_DIR, env=sweep_env, capture_output=True, text=True, timeout=120)
    orphan_kept = "Contents" in d.client("s3").list_objects_v2(
        Bucket=outputs["AvatarsBucketName"], Prefix=orphan_key)
    rehearsal.seconds["smoke phase"] = time.monotonic() - started
    try:
        yield Smoke(base_url=base_url, avatar_base_url=avatar_base_url, responses=responses,
                    created=created, sweep=sweep, orphan_key=orphan_key, orphan_kept=orphan_kept,
                    table_emails=table_emails, stored_avatar=stored_avatar,
                    app_calls=_records(app_record), sweep_calls=_records(sweep_record),
                    app_credentials=app_credentials, sweep_credentials=sweep_credentials,
                    lifted=lifted)
    finally:
        lifted.restore()
        served[0].shutdown()


# ---------------------------------------------------------------------- IAM enforcement
@dataclass
class Attempt:
    who: str
    call: str
    error_code: str | None  # None: allowed


@pytest.fixture(scope="session")
def enforced(rehearsal: Rehearsed, smoke: Smoke) -> list[Attempt]:
    """The roles' credentials against moto's own IAM enforcement (S3 checked on real ARNs)."""
    started = time.monotonic()
    d, outputs = rehearsal.deployment, rehearsal.outputs
    bucket, table = outputs["AvatarsBucketName"], outputs["UsersTableName"]
    app = session_for(d, smoke.app_credentials)
    sweep = session_for(d, smoke.sweep_credentials)
    probe = "avatars/" + "f" * 32 + ".png"
    attempts: list[Attempt] = []

    def attempt(who: str, label: str, call) -> None:
        try:
            call()
            attempts.append(Attempt(who, label, None))
        except ClientError as error:
            attempts.append(Attempt(who, label, error.response["Error"]["Code"]))

    version_id = d.client("s3").put_object(Bucket=bucket, Key=probe, Body=b"x")["VersionId"]
    d.set_iam_enforcement(True)
    try:
        s3, ddb = d.client("s3", app), d.client("dynamodb", app)
        attempt("app", "s3:PutObject avatars/*", lambda: s3.put_object(Bucket=bucket, Key=probe, Body=b"y"))
        attempt("app", "s3:DeleteObject avatars/*", lambda: s3.delete_object(Bucket=bucket, Key=probe))
        attempt("app", "s3:DeleteObjectVersion avatars/*",
                lambda: s3.delete_object(Bucket=bucket, Key=probe, VersionId=version_id))
        attempt("app", "s3:GetObject avatars/*", lambda: s3.get_object(Bucket=bucket, Key=probe))
        attempt("app", "s3:PutObject outside avatars/",
                lambda: s3.put_object(Bucket=bucket, Key="elsewhere.png", Body=b"z"))
        attempt("app", "s3:DeleteBucket", lambda: s3.delete_bucket(Bucket=bucket))
        attempt("app", "s3:PutBucketPolicy",
                lambda: s3.put_bucket_policy(Bucket=bucket, Policy='{"Statement": []}'))
        attempt("app", "s3:ListBucket prefix avatars/",
                lambda: s3.list_objects_v2(Bucket=bucket, Prefix="avatars/", MaxKeys=1))
        attempt("app", "s3:ListBucket prefix other/",
                lambda: s3.list_objects_v2(Bucket=bucket, Prefix="other/", MaxKeys=1))
        attempt("app", "dynamodb:PutItem", lambda: ddb.put_item(
            TableName=table, Item={"email": {"S": "probe@example.org"}, "name": {"S": "p"},
                                   "avatar_url": {"S": "u"}}))
        attempt("app", "dynamodb:DeleteTable", lambda: ddb.delete_table(TableName=table))
        sweep_s3 = d.client("s3", sweep)
        attempt("sweep", "s3:PutObject avatars/*",
                lambda: sweep_s3.put_object(Bucket=bucket, Key=probe, Body=b"w"))
        attempt("sweep", "s3:DeleteObject avatars/*",
                lambda: sweep_s3.delete_object(Bucket=bucket, Key=smoke.orphan_key))
        attempt("sweep", "s3:DeleteObjectVersion avatars/*",
                lambda: sweep_s3.delete_object(Bucket=bucket, Key=probe, VersionId=version_id))
    finally:
        d.set_iam_enforcement(False)
        smoke.lifted.restore()
    rehearsal.seconds["enforcement phase"] = time.monotonic() - started
    return attempts
