"""Builds the four stacks of one environment into a CDK App (used by app.py and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Tags

from users_api_infra.cdn_stack import AvatarCdnStack
from users_api_infra.cluster_stack import ClusterStack
from users_api_infra.data_stack import DataStack
from users_api_infra.nag import attach_checks
from users_api_infra.registry_stack import RegistryStack
from users_api_infra.serverless_stack import add_serverless_stack
from users_api_infra.settings import EnvSettings, deployment_environment, settings_from_node

# Short role names of the stacks, in deploy order; stack names are users-api-<env>-<role>.
STACK_ROLES = ("data", "registry", "avatars-cdn", "cluster")


@dataclass(frozen=True)
class UsersApiStacks:
    settings: EnvSettings
    data: DataStack
    registry: RegistryStack
    avatars_cdn: AvatarCdnStack
    cluster: ClusterStack

    def by_role(self) -> dict[str, object]:
        return {
            "data": self.data,
            "registry": self.registry,
            "avatars-cdn": self.avatars_cdn,
            "cluster": self.cluster,
        }


def build(app: App, env: Environment | None = None) -> UsersApiStacks:
    """Add the stacks for the environment chosen with ``-c env=...`` and the nag checks."""
    settings = settings_from_node(app.node)
    env = env or deployment_environment()
    common = {
        "env": env,
        "termination_protection": settings.termination_protection,
    }
    data = DataStack(
        app,
        settings.stack_name("data"),
        settings=settings,
        description=(
            f"users-api {settings.name}: DynamoDB users table, S3 avatars bucket, app and sweep IAM roles"
        ),
        **common,
    )
    registry = RegistryStack(
        app,
        settings.stack_name("registry"),
        settings=settings,
        description=f"users-api {settings.name}: ECR image repository",
        **common,
    )
    avatars_cdn = AvatarCdnStack(
        app,
        settings.stack_name("avatars-cdn"),
        settings=settings,
        avatars_bucket=data.avatars_bucket,
        description=(
            f"users-api {settings.name}: CloudFront (OAC) for avatars/* and the avatars bucket policy"
        ),
        **common,
    )
    cluster = ClusterStack(
        app,
        settings.stack_name("cluster"),
        settings=settings,
        app_role=data.app_role,
        sweep_role=data.sweep_role,
        description=f"users-api {settings.name}: VPC and EKS Auto Mode cluster",
        **common,
    )
    for stack in (data, registry, avatars_cdn, cluster):
        Tags.of(stack).add("project", "users-api")
        Tags.of(stack).add("environment", settings.name)
    add_serverless_stack(app, settings, data, avatars_cdn, **common)  # opt-in: -c serverless=true
    attach_checks(app)
    return UsersApiStacks(
        settings=settings, data=data, registry=registry, avatars_cdn=avatars_cdn, cluster=cluster
    )
