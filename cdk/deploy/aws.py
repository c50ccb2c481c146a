"""The AWS reads the flow makes itself, through boto3.

Why boto3 here and the AWS CLI only in the shell steps: these reads feed decisions (which region,
who is calling, which outputs, which CIDRs), so they want structured answers and typed errors,
not parsed CLI text. boto3 is already a dependency, honours the same profile, region and
AWS_ENDPOINT_URL settings as the CLI, and runs in the tests against the embedded emulator. The
AWS CLI is still required: the kubeconfig that ``aws eks update-kubeconfig`` writes calls
``aws eks get-token`` for every kubectl/helm request, and the ECR login pipes
``aws ecr get-login-password`` into the container engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

BOOTSTRAP_STACK = "CDKToolkit"
# Gateway-endpoint services whose AWS-managed prefix lists hold the CIDRs the app reaches on 443.
GATEWAY_SERVICES = ("s3", "dynamodb")

AwsError = (BotoCoreError, ClientError)


class OutputConflict(ValueError):
    pass


def stack_prefix(env_name: str) -> str:
    return f"users-api-{env_name}-"


def merge_outputs(stacks: Iterable[Mapping]) -> dict[str, str]:
    """OutputKey -> OutputValue over the given DescribeStacks entries.

    One key in two stacks with different values is an error: the flow would not know which one
    the release should get.
    """
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for stack in stacks:
        for output in stack.get("Outputs") or []:
            key, value = output["OutputKey"], output["OutputValue"]
            if key in merged and merged[key] != value:
                raise OutputConflict(
                    f"output {key} differs between stacks {origin[key]} and {stack['StackName']}:"
                    " keep it in one stack, so the release gets one value."
                )
            merged[key] = value
            origin[key] = stack["StackName"]
    return merged


def env_stacks(cloudformation, env_name: str) -> list[dict]:
    """The environment's live stacks (users-api-<env>-*), sorted by name."""
    prefix = stack_prefix(env_name)
    stacks = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            if stack["StackName"].startswith(prefix) and stack["StackStatus"] != "DELETE_COMPLETE":
                stacks.append(stack)
    return sorted(stacks, key=lambda stack: stack["StackName"])


def read_stack_outputs(cloudformation, env_name: str) -> dict[str, str]:
    """The merged outputs of every users-api-<env>-* stack, read from CloudFormation."""
    return merge_outputs(env_stacks(cloudformation, env_name))


def bootstrap_stack_status(cloudformation) -> str | None:
    """CDKToolkit's status, or None when the account/region was never bootstrapped."""
    try:
        stacks = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def gateway_prefix_list_cidrs(ec2, region: str) -> dict[str, list[str]]:
    """CIDRs of the AWS-managed prefix lists com.amazonaws.<region>.{s3,dynamodb}.

    These are the address ranges the gateway endpoints route; a NetworkPolicy cannot name an
    endpoint, so the release allows exactly these on 443. Raises LookupError when one is absent.
    """
    names = {f"com.amazonaws.{region}.{service}": service for service in GATEWAY_SERVICES}
    found: dict[str, str] = {}
    pages = ec2.get_paginator("describe_managed_prefix_lists").paginate(
        Filters=[{"Name": "prefix-list-name", "Values": sorted(names)}]
    )
    for page in pages:
        for prefix_list in page["PrefixLists"]:
            if prefix_list.get("OwnerId") == "AWS" and prefix_list["PrefixListName"] in names:
                found[names[prefix_list["PrefixListName"]]] = prefix_list["PrefixListId"]
    missing = [service for service in GATEWAY_SERVICES if service not in found]
    if missing:
        raise LookupError(f"no AWS-managed prefix list for {', '.join(missing)} in {region}: check"
                          " the region, and that the caller may call ec2:DescribeManagedPrefixLists.")
    cidrs: dict[str, list[str]] = {}
    for service, list_id in found.items():
        entries = ec2.get_paginator("get_managed_prefix_list_entries").paginate(PrefixListId=list_id)
        cidrs[service] = [entry["Cidr"] for page in entries for entry in page["Entries"]]
    return cidrs


_ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[^/]+$")
_IAM_PRINCIPAL = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):(role|user)/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class AdminPrincipal:
    arn: str
    note: str = ""


class PrincipalError(ValueError):
    pass


def admin_principal_from_caller(caller_arn: str, role_arn_lookup=None) -> AdminPrincipal:
    """The IAM principal an EKS access entry can name, for the identity making the calls.

    An sts assumed-role ARN (arn:aws:sts::ACCT:assumed-role/NAME/SESSION) becomes the role ARN
    arn:aws:iam::ACCT:role/NAME. The session ARN carries no role path, so ``role_arn_lookup``
    (iam:GetRole) is asked for the full ARN; without it the path is lost and the note says so.
    """
    if _IAM_PRINCIPAL.match(caller_arn):
        return AdminPrincipal(caller_arn)
    match = _ASSUMED_ROLE.match(caller_arn)
    if not match:
        raise PrincipalError(
            f"your identity {caller_arn} is not an IAM role or user an EKS access entry can name:"
            " set ADMIN_PRINCIPAL_ARN to the IAM role you deploy with."
        )
    partition, account, name = match.groups()
    pathless = f"arn:{partition}:iam::{account}:role/{name}"
    if role_arn_lookup is not None:
        try:
            full = role_arn_lookup(name)
        except AwsError:
            full = None
        if full:
            return AdminPrincipal(full, f"ADMIN_PRINCIPAL_ARN={full} (your role, from iam:GetRole)")
    return AdminPrincipal(
        pathless,
        f"ADMIN_PRINCIPAL_ARN={pathless}, derived from your session {caller_arn}; a session ARN"
        " carries no role path (iam:GetRole was not allowed), so if your role has one (SSO roles"
        " live under /aws-reserved/...), set ADMIN_PRINCIPAL_ARN to its full ARN.",
    )


class Aws:
    """boto3 clients for one region (and the standard profile/credential/endpoint settings)."""

    def __init__(self, region: str, session: boto3.Session | None = None):
        self.region = region
        self.session = session or boto3.Session(region_name=region)

    def client(self, service: str):
        return self.session.client(service, region_name=self.region)

    def caller_identity(self) -> dict:
        return self.client("sts").get_caller_identity()

    def role_arn(self, name: str) -> str:
        return self.client("iam").get_role(RoleName=name)["Role"]["Arn"]

    def bootstrap_stack_status(self) -> str | None:
        return bootstrap_stack_status(self.client("cloudformation"))

    def stack_outputs(self, env_name: str) -> dict[str, str]:
        return read_stack_outputs(self.client("cloudformation"), env_name)

    def env_stack_names(self, env_name: str) -> list[str]:
        return [stack["StackName"] for stack in env_stacks(self.client("cloudformation"), env_name)]

    def gateway_cidrs(self) -> list[str]:
        by_service = gateway_prefix_list_cidrs(self.client("ec2"), self.region)
        return [cidr for service in GATEWAY_SERVICES for cidr in by_service[service]]
