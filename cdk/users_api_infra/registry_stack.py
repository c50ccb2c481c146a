"""Registry stack: the ECR repository for the users-api image."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from users_api_infra.settings import EnvSettings


class RegistryStack(Stack):
    """ECR repository: scan on push, immutable tags, lifecycle rules."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: EnvSettings, **kwargs):
        super().__init__(scope, construct_id, **kwargs)

        self.repository = ecr.Repository(
            self,
            "Repository",
            # users-api-<env>: dev and prod never collide in one account and region. Named and
            # retained in prod, hence RETAIN_ON_UPDATE_OR_DELETE: a failed first create removes
            # it, so the next deploy does not stop at "already exists".
            repository_name=settings.repository_name,
            image_scan_on_push=True,
            # A tag always means the same bytes: the deploy flow tags with the git commit, and
            # a rollback to a tag gets exactly what was tested.
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.AES_256,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="Drop untagged layers/images after a week",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description="Keep the most recent images only",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=settings.images_kept,
                ),
            ],
            removal_policy=settings.removal_policy,
            # dev: let `cdk destroy` delete a repository that still holds images (native
            # CloudFormation EmptyOnDelete, no custom resource).
            empty_on_delete=settings.empty_on_delete,
        )

        CfnOutput(self, "RepositoryUri", value=self.repository.repository_uri,
                  description="Image repository (Helm image.repository)")
        CfnOutput(self, "RepositoryName", value=self.repository.repository_name,
                  description="ECR repository name")
