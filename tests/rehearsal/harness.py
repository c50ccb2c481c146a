"""The deploy rehearsal's machinery: a private emulator, the real CDK CLI, and what moto skips.

One ``Deployment`` per test session (tests/rehearsal/conftest.py):

1. a moto server of its own on a free port (api/devtools/emulator.py starts it), addressed as
   ``http://localhost:PORT``: moto reads the bucket of a deploy's TemplateURL from the host name
   unless it contains ``localhost``;
2. ``cdk bootstrap aws://ACCOUNT/REGION`` and ``cdk deploy`` of the synthesized dev assembly (the
   session's own synth, tests/fixtures/cdk_synth.py) with ``AWS_ENDPOINT_URL`` set. Two
   deviations from ``make deploy``, both forced by the emulator and both checked:
   * ``--method=direct`` (CreateStack instead of a change set): moto's change-set execution never
     computes the stack's outputs, and the release is built from those outputs;
   * custom resources: moto cannot run their Lambda without Docker, so the rehearsal answers the
     ``Create`` event on the handler's behalf (``cfnresponse`` SUCCESS), exactly as CDK's
     auto-delete-objects handler answers a Create (it acts only on Delete). The function and its
     code in the bootstrap bucket are checked; the handler itself never runs here;
3. every resource moto's CloudFormation skipped is created through its service API from the
   template's own, resolved properties (see ``API_CREATED``) -- or named in ``SKIPPED`` with why.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from devtools import emulator
from tests.rehearsal.intrinsics import Scope, Unresolved, resolve

REPO = Path(__file__).resolve().parents[2]
CDK_DIR = REPO / "cdk"
CDK_CLI = CDK_DIR / "node_modules" / ".bin" / "cdk"
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"  # not the SDK default, so nothing passes by falling back to us-east-1
CLI_TIMEOUT_SECONDS = 300
CDK_QUIET_ENV = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "AWS_EC2_METADATA_DISABLED": "true",
    "npm_config_update_notifier": "false",
}

# Types moto's CloudFormation reports CREATE_COMPLETE for without creating them (or, for the CDN
# stack, cannot deploy at all); the rehearsal creates each through the service API from the
# template's resolved properties.
API_CREATED = ("AWS::S3::BucketPolicy", "AWS::CloudFront::OriginAccessControl",
               "AWS::CloudFront::Distribution")
# Types nothing here can create; listed, with the reason, in the README's rehearsal section.
SKIPPED: dict[str, str] = {
    "AWS::CloudFront::ResponseHeadersPolicy": "moto has no response-headers-policy API; the "
    "distribution is created without its ResponseHeadersPolicyId, and the smoke checks that the "
    "local avatar server sends the policy's Cache-Control",
}
# Stacks moto's CloudFormation cannot deploy: every type in them is unmodelled, and a GetAtt on
# a skipped resource fails the stack. The rehearsal provisions them through the service APIs.
API_PROVISIONED_STACKS = {
    "avatars-cdn": "moto's CloudFormation models no AWS::CloudFront::* type (cdk deploy fails)",
}
# Stacks not deployed at all: an EKS Auto Mode cluster and its VPC cannot run here. The outputs
# the release needs are literals or the cluster's fixed name in the template (static_outputs).
NOT_DEPLOYED_STACKS = {"cluster": "EKS Auto Mode, its VPC and add-ons cannot run on the emulator"}
# Custom resources whose Create the rehearsal answers on the (Lambda) handler's behalf.
ANSWERED_CUSTOM_RESOURCES = {
    "Custom::S3AutoDeleteObjects": "CDK's handler does nothing on Create (it empties the bucket "
    "on Delete); moto cannot run the Lambda without Docker, so the rehearsal answers SUCCESS",
}


class RehearsalError(RuntimeError):
    pass


@dataclass
class StackRecord:
    name: str
    template: dict
    stack_id: str = ""
    status: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    # logical id -> physical id, as moto's list_stack_resources reports them
    cloudformation_ids: dict[str, str] = field(default_factory=dict)
    # logical id -> physical id of what the rehearsal created through the service API
    api_ids: dict[str, str] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)  # custom resources answered
    api_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # logical id -> keys not carried

    def physical_ids(self) -> dict[str, str]:
        return {**self.cloudformation_ids, **self.api_ids}

    def resources(self) -> dict[str, dict]:
        return self.template["Resources"]


class Deployment:
    """A private moto server and the stacks the real CDK CLI deployed into it."""

    def __init__(self, assembly: Path, workdir: Path, region: str = REGION):
        if not CDK_CLI.exists():
            raise RehearsalError("the CDK CLI is not installed: run `make cdk-install` (npm ci in cdk/)")
        self.assembly = assembly
        self.workdir = workdir
        self.region = region
        self.account = ACCOUNT
        self.emulator = emulator.start(host="127.0.0.1")
        port = self.emulator.endpoint.rsplit(":", 1)[1]
        self.endpoint = f"http://localhost:{port}"
        self.stacks: dict[str, StackRecord] = {}
        self.cli_log: list[tuple[list[str], int, str]] = []
        self.responder_error: Exception | None = None
        self.seconds: dict[str, float] = {}
        self.admin = boto3.session.Session(
            region_name=region,
            aws_access_key_id=emulator.CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=emulator.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    # ------------------------------------------------------------------ plumbing
    def client(self, service: str, session: boto3.session.Session | None = None):
        return (session or self.admin).client(service, endpoint_url=self.endpoint)

    def client_env(self, **extra: str) -> dict[str, str]:
        """A process environment pointing the SDK at this emulator (no developer AWS settings)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
        env.update(emulator.client_env(self.endpoint, self.region))
        env.update(extra)
        return env

    def stop(self) -> None:
        self.emulator.stop()

    def set_iam_enforcement(self, on: bool) -> None:
        """moto's IAM check on every request (``0`` free requests) or off (``inf``)."""
        request = urllib.request.Request(  # noqa: S310 - our own local emulator
            f"{self.endpoint}/moto-api/reset-auth", data=b"0" if on else b"inf", method="POST",
            # a form content type would make the server parse (and consume) the bare number
            headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def cdk(self, *args: str, on_line=None) -> subprocess.CompletedProcess:
        """Run the pinned CLI on the assembly; ``on_line`` sees each output line as it comes."""
        argv = [str(CDK_CLI), *args, "--app", str(self.assembly), "--no-notices"]
        started = time.monotonic()
        proc = subprocess.Popen(  # noqa: S603 - the repo's pinned CLI
            argv, cwd=self.workdir, env=self.client_env(**CDK_QUIET_ENV), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines: list[str] = []
        timer = threading.Timer(CLI_TIMEOUT_SECONDS, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            proc.wait()
        finally:
            timer.cancel()
        output = "".join(lines)
        self.cli_log.append((argv, proc.returncode, output))
        key = f"cdk {args[0]}"
        self.seconds[key] = self.seconds.get(key, 0) + time.monotonic() - started
        if proc.returncode != 0:
            raise RehearsalError(f"cdk {' '.join(args)} failed ({proc.returncode}; killed after "
                                 f"{CLI_TIMEOUT_SECONDS}s if negative; custom-resource answers: "
                                 f"{self.responder_error or 'ok'}):\n{output[-4000:]}")
        return subprocess.CompletedProcess(argv, proc.returncode, output, "")

    # ------------------------------------------------------------------ steps
    def bootstrap(self) -> None:
        self.cdk("bootstrap", f"aws://{self.account}/{self.region}")

    def deploy(self, stack_names: Iterable[str]) -> None:
        names = list(stack_names)
        for name in names:
            template = json.loads((self.assembly / f"{name}.template.json").read_text())
            self.stacks[name] = StackRecord(name=name, template=template)
        created = {name: threading.Event() for name in names}
        stop = threading.Event()

        def on_line(line: str) -> None:
            # The CLI prints a stack's events only after its CreateStack call has returned, so
            # from here on moto has finished creating (and registering) every resource. Touching
            # the stack earlier races moto's lazy resource map and can register a custom
            # resource twice, after which the stack never completes.
            for name in names:
                if line.startswith(f"{name} |") and "CREATE_IN_PROGRESS" in line:
                    created[name].set()

        responder = threading.Thread(target=self._answer_custom_resources,
                                     args=(names, created, stop), daemon=True)
        responder.start()
        try:
            self.cdk("deploy", *names, "--exclusively", "--method=direct",
                     "--require-approval", "never", "--progress", "events",
                     "--outputs-file", str(self.workdir / "cdk-outputs.json"), on_line=on_line)
        finally:
            stop.set()
            responder.join(timeout=10)
        cloudformation = self.client("cloudformation")
        for name in names:
            record = self.stacks[name]
            [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
            record.stack_id, record.status = stack["StackId"], stack["StackStatus"]
            record.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
            record.cloudformation_ids = {
                s["LogicalResourceId"]: s.get("PhysicalResourceId", "")
                for s in summaries if s["LogicalResourceId"]  # moto lists skipped ones unnamed
            }

    def _answer_custom_resources(self, names: list[str], created: dict[str, threading.Event],
                                 stop: threading.Event) -> None:
        """Play the custom-resource Lambdas' part for Create (see ANSWERED_CUSTOM_RESOURCES)."""
        try:
            self._answer(names, created, stop)
        except Exception as error:  # noqa: BLE001 - reported with the CLI's failure
            self.responder_error = error

    def _answer(self, names: list[str], created: dict[str, threading.Event],
                stop: threading.Event) -> None:
        cloudformation = self.client("cloudformation")
        for name in names:
            record = self.stacks[name]
            custom = [lid for lid, r in record.resources().items()
                      if r["Type"] in ANSWERED_CUSTOM_RESOURCES]
            if not custom:
                continue
            while not created[name].wait(0.2):
                if stop.is_set():
                    return
            [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
            for logical_id in custom:
                self._cfn_response(stack["StackId"], logical_id)
                record.answered.append(logical_id)

    def _cfn_response(self, stack_id: str, logical_id: str) -> None:
        body = json.dumps({"Status": "SUCCESS", "StackId": stack_id, "LogicalResourceId": logical_id,
                           "RequestId": "rehearsal", "PhysicalResourceId": logical_id,
                           "Data": {}}).encode()
        url = f"{self.endpoint}/cloudformation_{self.region}/cfnresponse?stack={stack_id}"
        # moto picks the region's backend from the credential scope of an Authorization header
        # (the Lambda's real PUT to the pre-signed URL carries the region in its query string).
        scope = f"Credential=rehearsal/20260101/{self.region}/cloudformation/aws4_request"
        request = urllib.request.Request(url, data=body, method="PUT",  # noqa: S310
                                         headers={"Content-Type": "",
                                                  "Authorization": f"AWS4-HMAC-SHA256 {scope}"})
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - local emulator

    # ------------------------------------------------------------------ resolution
    def exports(self) -> dict[str, str]:
        cloudformation = self.client("cloudformation")
        return {e["Name"]: e["Value"] for e in cloudformation.list_exports().get("Exports", [])}

    def scope(self, record: StackRecord) -> Scope:
        return Scope(region=self.region, account=self.account, stack_name=record.name,
                     physical_ids=record.physical_ids(),
                     attribute=lambda lid, attr: self.attribute(record, lid, attr),
                     exports=self.exports(),
                     parameters={"BootstrapVersion": "/cdk-bootstrap/hnb659fds/version"},
                     stack_output=self.stack_output)

    def stack_output(self, stack_name: str, output_name: str) -> str:
        record = self.stacks.get(stack_name)
        if record is None or output_name not in record.outputs:
            raise Unresolved(f"Fn::GetStackOutput {stack_name}.{output_name}: not deployed")
        return record.outputs[output_name]

    def attribute(self, record: StackRecord, logical_id: str, name: str) -> str:
        """Fn::GetAtt, read from the deployed resource through its service API."""
        resource = record.resources().get(logical_id)
        physical = record.physical_ids().get(logical_id)
        if resource is None or not physical:
            raise Unresolved(f"GetAtt {logical_id}.{name}: not deployed")
        if logical_id in record.api_attributes:
            values = record.api_attributes[logical_id]
            if name not in values:
                raise Unresolved(f"GetAtt {logical_id}.{name}: not known for an API-created resource")
            return values[name]
        kind = resource["Type"]
        region = self.region
        if kind == "AWS::S3::Bucket":
            values = {"Arn": f"arn:aws:s3:::{physical}", "DomainName": f"{physical}.s3.amazonaws.com",
                      "RegionalDomainName": f"{physical}.s3.{region}.amazonaws.com"}
        elif kind == "AWS::DynamoDB::Table":
            values = {"Arn": self.client("dynamodb").describe_table(TableName=physical)["Table"]["TableArn"]}
        elif kind == "AWS::IAM::Role":
            values = {"Arn": self.client("iam").get_role(RoleName=physical)["Role"]["Arn"]}
        elif kind == "AWS::Lambda::Function":
            values = {"Arn": self.client("lambda").get_function(FunctionName=physical)
                      ["Configuration"]["FunctionArn"]}
        elif kind == "AWS::ECR::Repository":
            [repo] = self.client("ecr").describe_repositories(repositoryNames=[physical])["repositories"]
            values = {"Arn": repo["repositoryArn"], "RepositoryUri": repo["repositoryUri"]}
        else:
            values = {}
        if name not in values:
            raise Unresolved(f"GetAtt {logical_id}.{name} ({kind}) is not modelled by the rehearsal")
        return values[name]

    def resolved_properties(self, record: StackRecord, logical_id: str) -> dict:
        return self.api_properties(record, logical_id)[0]

    def api_properties(self, record: StackRecord, logical_id: str) -> tuple[dict, list[str]]:
        """The resource's resolved properties, minus references to SKIPPED resources (named)."""
        resource = record.resources()[logical_id]
        raw = json.loads(json.dumps(resource.get("Properties", {})))
        dropped = []
        if resource["Type"] == "AWS::CloudFront::Distribution":
            behavior = raw["DistributionConfig"]["DefaultCacheBehavior"]
            if behavior.pop("ResponseHeadersPolicyId", None) is not None:
                dropped.append("DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId")
        return resolve(raw, self.scope(record)), dropped

    # ------------------------------------------------------------------ what moto skipped
    def skipped_by_cloudformation(self, record: StackRecord) -> dict[str, str]:
        """Template resources the emulator's CloudFormation did not create: logical id -> type."""
        return {lid: r["Type"] for lid, r in record.resources().items()
                if lid not in record.cloudformation_ids and not lid.startswith("CDKMetadata")}

    def create_skipped(self, record: StackRecord) -> None:
        from tests.rehearsal import cloudfront

        for logical_id, kind in self.skipped_by_cloudformation(record).items():
            if kind in API_CREATED:
                self._create_by_api(record, logical_id, kind,
                                    self.resolved_properties(record, logical_id), cloudfront)
            elif kind not in SKIPPED:
                raise RehearsalError(
                    f"{record.name}: moto skipped {logical_id} ({kind}) and the rehearsal has no "
                    "way to create it: add it to API_CREATED or SKIPPED (with the reason)")

    def provision_by_api(self, name: str) -> None:
        """Create every resource of a stack moto's CloudFormation cannot deploy (API_PROVISIONED_STACKS)."""
        from tests.rehearsal import cloudfront

        template = json.loads((self.assembly / f"{name}.template.json").read_text())
        record = self.stacks[name] = StackRecord(name=name, template=template, status="API")
        pending = dict(record.resources())
        while pending:
            progressed = False
            for logical_id, resource in list(pending.items()):
                kind = resource["Type"]
                if kind in SKIPPED:
                    del pending[logical_id]
                    continue
                try:
                    props, dropped = self.api_properties(record, logical_id)
                except Unresolved:
                    continue  # depends on a resource not created yet
                self._create_by_api(record, logical_id, kind, props, cloudfront)
                if dropped:
                    record.dropped[logical_id] = dropped
                del pending[logical_id]
                progressed = True
            if pending and not progressed:
                raise RehearsalError(f"{name}: cannot resolve {sorted(pending)}")
        record.outputs = {key: str(resolve(out["Value"], self.scope(record)))
                          for key, out in template.get("Outputs", {}).items()}

    def _create_by_api(self, record: StackRecord, logical_id: str, kind: str, props: dict,
                       cloudfront) -> None:
        if kind == "AWS::S3::BucketPolicy":
            self.client("s3").put_bucket_policy(Bucket=props["Bucket"],
                                                Policy=json.dumps(props["PolicyDocument"]))
            record.api_ids[logical_id] = props["Bucket"]
        elif kind == "AWS::CloudFront::OriginAccessControl":
            created = self.client("cloudfront").create_origin_access_control(
                OriginAccessControlConfig=cloudfront.origin_access_control_config(props))
            control_id = created["OriginAccessControl"]["Id"]
            record.api_ids[logical_id] = control_id
            record.api_attributes[logical_id] = {"Id": control_id}
        elif kind == "AWS::CloudFront::Distribution":
            config = cloudfront.distribution_config(props, caller_reference=f"{record.name}-{logical_id}")
            tags = {"Items": props.get("Tags", [])}
            created = self.client("cloudfront").create_distribution_with_tags(
                DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags})["Distribution"]
            record.api_ids[logical_id] = created["Id"]
            record.api_attributes[logical_id] = {"Id": created["Id"], "DomainName": created["DomainName"]}
        else:
            raise RehearsalError(f"{record.name}: no API to create {logical_id} ({kind})")

    def static_outputs(self, name: str) -> dict[str, str]:
        """Outputs of a stack that is not deployed (NOT_DEPLOYED_STACKS), where the template fixes
        them: literals, pseudo parameters, and Ref of a resource with a fixed Name (what
        CloudFormation returns for an EKS cluster). Anything else is left out."""
        template = json.loads((self.assembly / f"{name}.template.json").read_text())
        names = {lid: r["Properties"]["Name"] for lid, r in template["Resources"].items()
                 if isinstance(r.get("Properties", {}).get("Name"), str)
                 and r["Type"] == "AWS::EKS::Cluster"}
        scope = Scope(region=self.region, account=self.account, stack_name=name,
                      physical_ids=names, attribute=lambda lid, attr: _unresolvable(lid, attr),
                      exports={}, parameters={}, stack_output=self.stack_output)
        outputs = {}
        for key, out in template.get("Outputs", {}).items():
            try:
                outputs[key] = str(resolve(out["Value"], scope))
            except Unresolved:
                continue
        return outputs


def _unresolvable(logical_id: str, attribute: str) -> str:
    raise Unresolved(f"GetAtt {logical_id}.{attribute}: the stack is not deployed")


class LiftedBucketPolicy:
    """The avatars bucket's policy taken off for the smoke, put back byte for byte afterwards.

    Why: moto evaluates a bucket policy's Deny statements on object requests, but ignores every
    condition operator except StringEquals. The TLS-only denies (``Bool aws:SecureTransport
    false``, ``NumericLessThan s3:TlsVersion 1.2``) therefore deny *every* object request there,
    TLS or not. In AWS they never touch a TLS caller, so taking them off changes nothing the roles
    may do over TLS; the roles' own policies and trust policies are never touched. The policy is
    read back after creation (inventory) and again after it is restored (test_least_privilege).
    """

    def __init__(self, deployment: Deployment, bucket: str):
        self.deployment, self.bucket = deployment, bucket
        self.policy: str | None = None

    def lift(self) -> None:
        s3 = self.deployment.client("s3")
        self.policy = s3.get_bucket_policy(Bucket=self.bucket)["Policy"]
        s3.delete_bucket_policy(Bucket=self.bucket)

    def restore(self) -> None:
        if self.policy is not None:
            self.deployment.client("s3").put_bucket_policy(Bucket=self.bucket, Policy=self.policy)
            self.policy = None


def assume(deployment: Deployment, role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials of a deployed role, as environment variables (enforcement off)."""
    creds = deployment.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
    creds = creds["Credentials"]
    return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


def session_for(deployment: Deployment, creds: Mapping[str, str]) -> boto3.session.Session:
    return boto3.session.Session(region_name=deployment.region,
                                 aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                                 aws_session_token=creds["AWS_SESSION_TOKEN"])
