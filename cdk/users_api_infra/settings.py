"""Per-environment settings, selected with CDK context: ``cdk synth -c env=dev|prod``.

Only the environment name is required; everything else has a reviewed default per environment.
A few values can be overridden with context because they depend on who deploys and from where:

``apiAllowedCidrs``   comma-separated CIDRs allowed to reach the public Kubernetes API endpoint.
                      dev: unset means open to the internet (IAM authentication still applies);
                      prod: unset means the endpoint is private-only (deploy from inside the VPC).
``adminPrincipalArn`` IAM role/user ARN that gets a cluster-admin EKS access entry (the person or
                      CI role that runs ``helm``). Unset: no human access entry is created.
``availabilityZones`` comma-separated AZ names to pin; default: the first N AZs of the region,
                      resolved at deploy time (Fn::GetAZs), so synth needs no lookup.
``repositoryName``    ECR repository name (default ``users-api-<env>``, so dev and prod never
                      collide in one account and region).
``certificateArn``    ACM certificate ARN for HTTPS on the load balancer (optional).

Account and region come from CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION (set by the cdk CLI from
the active AWS profile). When they are absent the stacks are environment-agnostic, which is how
the tests synthesize offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from aws_cdk import Environment, RemovalPolicy, aws_logs
from constructs import Node

from users_api_infra.versions import IMAGE_REPOSITORY_PREFIX

ENVIRONMENTS = ("dev", "prod")


class SettingsError(ValueError):
    """Raised for unknown environments or malformed context values."""


@dataclass(frozen=True)
class EnvSettings:
    """One environment's reviewed choices. Each field decides one thing (see cdk/README.md)."""

    name: str
    # --- what a `cdk destroy` (or a replacement) does to stateful resources --------------------
    # prod: RETAIN_ON_UPDATE_OR_DELETE (CloudFormation "RetainExceptOnCreate"): kept on delete
    # and replacement, but removed when the stack's *first* create rolls back, so a failed first
    # deploy never leaves a named resource behind that makes the next deploy fail.
    removal_policy: RemovalPolicy
    table_deletion_protection: bool  # DynamoDB deletion protection (a second lock besides RETAIN)
    empty_on_delete: bool  # buckets auto-emptied (custom resource) and ECR EmptyOnDelete on destroy
    # --- data ---------------------------------------------------------------------------------
    noncurrent_version_days: int  # how long a deleted/replaced avatar's bytes are kept
    access_log_days: int  # S3 server access log retention
    # --- registry -------------------------------------------------------------------------------
    images_kept: int  # ECR keeps the newest N images (untagged ones expire after a week)
    # --- network / cluster ----------------------------------------------------------------------
    az_count: int
    nat_gateways: int
    public_api_endpoint: bool  # public Kubernetes API endpoint when no apiAllowedCidrs are given
    log_retention: aws_logs.RetentionDays  # control-plane and VPC flow logs
    container_log_retention: aws_logs.RetentionDays  # pod/node logs shipped by CloudWatch add-on
    node_cpu_limit: int  # NodePool limit: total vCPU EKS Auto Mode may provision
    node_memory_limit_gi: int  # NodePool limit: total memory (GiB)
    termination_protection: bool
    api_allowed_cidrs: tuple[str, ...] = ()
    admin_principal_arn: str | None = None
    availability_zones: tuple[str, ...] = ()
    repository_override: str | None = None
    certificate_arn: str | None = None

    @property
    def cluster_name(self) -> str:
        # Fixed (not generated) so the data stack's trust policy can name the cluster without a
        # cross-stack reference, and so the deploy flow can find it.
        return f"users-api-{self.name}"

    @property
    def repository_name(self) -> str:
        return self.repository_override or f"{IMAGE_REPOSITORY_PREFIX}-{self.name}"

    def stack_name(self, role: str) -> str:
        return f"users-api-{self.name}-{role}"


_DEFAULTS: dict[str, EnvSettings] = {
    "dev": EnvSettings(
        name="dev",
        removal_policy=RemovalPolicy.DESTROY,
        table_deletion_protection=False,
        empty_on_delete=True,
        noncurrent_version_days=1,
        access_log_days=30,
        images_kept=20,
        az_count=2,
        nat_gateways=1,
        public_api_endpoint=True,
        log_retention=aws_logs.RetentionDays.ONE_MONTH,
        container_log_retention=aws_logs.RetentionDays.TWO_WEEKS,
        node_cpu_limit=8,
        node_memory_limit_gi=32,
        termination_protection=False,
    ),
    "prod": EnvSettings(
        name="prod",
        removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        table_deletion_protection=True,
        empty_on_delete=False,
        noncurrent_version_days=7,
        access_log_days=365,
        images_kept=100,
        az_count=3,
        nat_gateways=3,
        public_api_endpoint=False,
        log_retention=aws_logs.RetentionDays.ONE_YEAR,
        container_log_retention=aws_logs.RetentionDays.THREE_MONTHS,
        node_cpu_limit=32,
        node_memory_limit_gi=128,
        termination_protection=True,
    ),
}


def _csv(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def settings_for(name: str, context: dict[str, object] | None = None) -> EnvSettings:
    """Settings for environment ``name`` with the optional context overrides applied."""
    if name not in _DEFAULTS:
        raise SettingsError(f"unknown environment {name!r}; use -c env=dev or -c env=prod")
    ctx = context or {}
    base = _DEFAULTS[name]
    cidrs = _csv(ctx.get("apiAllowedCidrs"))
    for cidr in cidrs:
        if "/" not in cidr:
            raise SettingsError(f"apiAllowedCidrs entry {cidr!r} is not a CIDR")
    azs = _csv(ctx.get("availabilityZones"))
    if azs and len(azs) != base.az_count:
        raise SettingsError(f"{name} needs exactly {base.az_count} availabilityZones, got {azs}")
    return replace(
        base,
        api_allowed_cidrs=cidrs,
        admin_principal_arn=(str(ctx["adminPrincipalArn"]) if ctx.get("adminPrincipalArn") else None),
        availability_zones=azs,
        repository_override=(str(ctx["repositoryName"]) if ctx.get("repositoryName") else None),
        certificate_arn=(str(ctx["certificateArn"]) if ctx.get("certificateArn") else None),
    )


_CONTEXT_KEYS = (
    "apiAllowedCidrs",
    "adminPrincipalArn",
    "availabilityZones",
    "repositoryName",
    "certificateArn",
)


def settings_from_node(node: Node) -> EnvSettings:
    """Read ``env`` (default dev) and the overrides from the app's CDK context."""
    name = node.try_get_context("env") or "dev"
    context = {key: node.try_get_context(key) for key in _CONTEXT_KEYS}
    return settings_for(str(name), context)


def deployment_environment() -> Environment:
    """Account/region from the standard CDK variables; both unset -> environment-agnostic."""
    return Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT") or None,
        region=os.environ.get("CDK_DEFAULT_REGION") or None,
    )
