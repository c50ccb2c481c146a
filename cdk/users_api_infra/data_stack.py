"""Data stack: the users table, the avatars bucket (+ its access-log bucket), the app's and the
orphan sweep's IAM roles.

The avatars bucket's bucket policy is NOT here: the avatar CDN stack (cdn_stack.py) owns the one
policy of that bucket (TLS-only denies + the CloudFront allow), because only that stack knows the
distribution it must name. See cdk/README.md, "Avatar delivery".
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, CustomResource, Duration, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from users_api_infra.nag import acknowledge
from users_api_infra.settings import EnvSettings
from users_api_infra.versions import (
    AVATARS_PREFIX,
    NAMESPACE,
    SERVICE_ACCOUNT,
    SWEEP_SERVICE_ACCOUNT,
)

# The calls the web pods make (see the API's README, "Avatar delivery"):
#   POST /user     s3:PutObject, dynamodb:PutItem (conditional); if the put fails, s3:DeleteObject
#                  without a VersionId: a delete marker; the noncurrent-version expiry below
#                  removes the bytes. No s3:DeleteObjectVersion: a compromised pod cannot purge
#                  history, only hide objects for the recovery window.
#   GET /users     dynamodb:Scan
#   GET /readyz    dynamodb:DescribeTable, s3:ListBucket (ListObjectsV2 Prefix=avatars/, MaxKeys=1)
TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable")
BUCKET_LIST_ACTIONS = ("s3:ListBucket",)
OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject")
LIST_PREFIXES = (AVATARS_PREFIX + "*", AVATARS_PREFIX)

# The orphan sweep (CronJob with its own ServiceAccount): lists avatars, reads every user,
# deletes (delete marker) the unreferenced objects past the grace period. It never writes.
SWEEP_TABLE_ACTIONS = ("dynamodb:Scan",)
SWEEP_OBJECT_ACTIONS = ("s3:DeleteObject",)

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"

# dev: what CDK's own auto-delete-objects function needs on a bucket it empties on destroy
# (aws-cdk-lib grants the same actions; it first puts a deny-writes policy on the bucket).
AUTO_DELETE_RESOURCE_TYPE = "Custom::S3AutoDeleteObjects"
AUTO_DELETE_ACTIONS = (
    "s3:PutBucketPolicy",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
)


class DataStack(Stack):
    """DynamoDB users table, S3 avatars bucket, S3 access-log bucket, app and sweep IAM roles."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: EnvSettings, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        removal = settings.removal_policy

        # ---------------------------------------------------------------- DynamoDB users table
        self.table = dynamodb.Table(
            self,
            "UsersTable",
            # No table_name: CloudFormation generates one, so a replacement or a second
            # environment in the same account never collides. The name reaches the app via
            # the UsersTableName output -> Helm value config.usersTable -> USERS_TABLE.
            partition_key=dynamodb.Attribute(name="email", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
                recovery_period_in_days=35,
            ),
            # AWS-managed KMS key (aws/dynamodb): encryption at rest that is visible in
            # CloudTrail, with no key policy for the app role to need.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=settings.table_deletion_protection,
            removal_policy=removal,
        )

        # ---------------------------------------------------------------- S3 access-log bucket
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # S3 server access logging only delivers to SSE-S3 encrypted targets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(settings.access_log_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=settings.empty_on_delete,
        )

        # ---------------------------------------------------------------- S3 avatars bucket
        self.avatars_bucket = s3.Bucket(
            self,
            "AvatarsBucket",
            # No bucket_name: bucket names are global, so CloudFormation generates one. The
            # fixed "users-api-avatars" default exists only for the local emulator.
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # ACLs disabled
            encryption=s3.BucketEncryption.S3_MANAGED,  # SSE-S3 (AES256), as the app expects
            # TLS-only (and TLS >= 1.2) is enforced by the bucket's one policy, which the CDN
            # stack owns together with the CloudFront allow (see the module docstring).
            versioned=True,
            lifecycle_rules=[
                # Keys are random and never overwritten, so a live avatar has no noncurrent
                # versions of its own: only deleted objects (failed writes, swept orphans, a
                # hostile delete) do. Their bytes go after this window, which is also how long
                # an operator has to undo a delete (remove the delete marker).
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(settings.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="remove-expired-delete-markers",
                    expired_object_delete_marker=True,
                ),
            ],
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="avatars-bucket/",
            removal_policy=removal,
            # Not auto_delete_objects=...: CDK would grant its clean-up function through a
            # bucket policy of this stack, a second policy next to the CDN stack's one.
        )
        acknowledge(
            self.avatars_bucket,
            "AwsSolutions-S10",
            "TLS-only is enforced: the avatars bucket's one policy (deny aws:SecureTransport=false "
            "and TLS below 1.2) lives in the avatar CDN stack next to the CloudFront allow.",
        )
        if settings.empty_on_delete:
            self._empty_on_delete(self.avatars_bucket)

        # ---------------------------------------------------------------- IAM roles
        object_arn = self.avatars_bucket.arn_for_objects(AVATARS_PREFIX + "*")
        list_avatars = iam.PolicyStatement(
            sid="ListAvatarsPrefix",
            actions=list(BUCKET_LIST_ACTIONS),
            resources=[self.avatars_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": list(LIST_PREFIXES)}},
        )

        self.app_role = self._pod_identity_role(
            "AppRole", SERVICE_ACCOUNT, "users-api web pods"
        )
        self.app_policy = iam.Policy(
            self,
            "AppPolicy",
            roles=[self.app_role],
            statements=[
                iam.PolicyStatement(
                    sid="UsersTable",
                    actions=list(TABLE_ACTIONS),
                    resources=[self.table.table_arn],
                ),
                list_avatars,
                iam.PolicyStatement(
                    sid="AvatarObjects",
                    actions=list(OBJECT_ACTIONS),
                    resources=[object_arn],
                ),
            ],
        )
        self._acknowledge_avatars_prefix(self.app_policy)

        self.sweep_role = self._pod_identity_role(
            "SweepRole", SWEEP_SERVICE_ACCOUNT, "users-api orphan sweep CronJob"
        )
        self.sweep_policy = iam.Policy(
            self,
            "SweepPolicy",
            roles=[self.sweep_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadUsers",
                    actions=list(SWEEP_TABLE_ACTIONS),
                    resources=[self.table.table_arn],
                ),
                list_avatars,
                iam.PolicyStatement(
                    sid="DeleteOrphans",
                    actions=list(SWEEP_OBJECT_ACTIONS),
                    resources=[object_arn],
                ),
            ],
        )
        self._acknowledge_avatars_prefix(self.sweep_policy)

        # ---------------------------------------------------------------- outputs
        CfnOutput(self, "UsersTableName", value=self.table.table_name,
                  description="USERS_TABLE for the app (Helm config.usersTable)")
        CfnOutput(self, "AvatarsBucketName", value=self.avatars_bucket.bucket_name,
                  description="AVATARS_BUCKET for the app (Helm config.avatarsBucket)")
        CfnOutput(self, "AwsRegion", value=Aws.REGION,
                  description="AWS_REGION for the app (Helm config.awsRegion)")
        CfnOutput(self, "AppRoleArn", value=self.app_role.role_arn,
                  description="IAM role bound to the users-api service account by Pod Identity")
        CfnOutput(self, "SweepRoleArn", value=self.sweep_role.role_arn,
                  description="IAM role bound to the orphan sweep's service account by Pod Identity")

    def _empty_on_delete(self, bucket: s3.Bucket) -> None:
        """CDK's auto-delete-objects for ``bucket`` (dev), granted by an identity policy.

        The access-log bucket's ``auto_delete_objects`` already created the stack's clean-up
        function (CDK's Custom::S3AutoDeleteObjects provider). This reuses it for the avatars
        bucket exactly as CDK would (custom resource + the tag its handler checks), except that
        the permissions go on the function's role instead of into a bucket policy.
        """
        provider = self.node.try_find_child(f"{AUTO_DELETE_RESOURCE_TYPE}CustomResourceProvider")
        if provider is None:
            raise RuntimeError("the access-log bucket's auto_delete_objects provider is missing")
        # By name (Ref of the function's role): plain intrinsics the emulator's CloudFormation
        # understands, unlike the name parsed back out of the role's ARN.
        provider_role = provider.node.find_child("Role")
        role = iam.Role.from_role_name(self, "AutoDeleteObjectsRole", provider_role.ref)
        grant = iam.Policy(
            self,
            "AvatarsAutoDeletePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=list(AUTO_DELETE_ACTIONS),
                    resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                )
            ],
        )
        empty = CustomResource(
            self,
            "AvatarsAutoDeleteObjects",
            resource_type=AUTO_DELETE_RESOURCE_TYPE,
            service_token=provider.service_token,
            properties={"BucketName": bucket.bucket_name},
        )
        empty.node.add_dependency(grant)
        Tags.of(bucket).add("aws-cdk:auto-delete-objects", "true")
        bucket_id = self._logical_id(bucket)
        for finding in (
            *(f"Action::{action}" for action in AUTO_DELETE_ACTIONS if action.endswith("*")),
            f"Resource::<{bucket_id}.Arn>/*",
        ):
            acknowledge(
                grant,
                f"AwsSolutions-IAM5[{finding}]",
                "dev only: CDK's bucket-emptying function must list and delete every object "
                "version of this one bucket on `cdk destroy` (the actions aws-cdk-lib grants it).",
            )

    @property
    def cluster_arn(self) -> str:
        """The cluster's ARN, from tokens (partition, region, account) and its fixed name: no
        cross-stack reference (the cluster stack depends on this one) and no literal region."""
        return self.format_arn(
            service="eks", resource="cluster", resource_name=self.settings.cluster_name
        )

    def _pod_identity_role(self, construct_id: str, service_account: str, who: str) -> iam.Role:
        # EKS Pod Identity: the EKS Auth service (pods.eks.amazonaws.com) assumes this role for
        # pods whose ServiceAccount has an association (made in the cluster stack). The
        # conditions pin it to this account and this cluster (aws:SourceAccount/aws:SourceArn,
        # set by EKS Auth on the request) and to the namespace and service account (the session
        # tags Pod Identity always sends), so no other association can borrow the role.
        settings = self.settings
        principal = iam.SessionTagsPrincipal(  # adds sts:TagSession next to sts:AssumeRole
            iam.ServicePrincipal(POD_IDENTITY_SERVICE)
        ).with_conditions(
            {
                "StringEquals": {
                    "aws:SourceAccount": Aws.ACCOUNT_ID,
                    "aws:RequestTag/eks-cluster-name": settings.cluster_name,
                    "aws:RequestTag/kubernetes-namespace": NAMESPACE,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                },
                "ArnEquals": {"aws:SourceArn": self.cluster_arn},
            }
        )
        return iam.Role(
            self,
            construct_id,
            assumed_by=principal,
            description=(
                f"{who} in {settings.cluster_name} "
                f"(system:serviceaccount:{NAMESPACE}:{service_account}) via EKS Pod Identity"
            ),
            max_session_duration=Duration.hours(1),
        )

    def _acknowledge_avatars_prefix(self, policy: iam.Policy) -> None:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.avatars_bucket)}.Arn>"
            f"/{AVATARS_PREFIX}*]",
            "Object keys are server-generated (avatars/<32 hex>.<ext>) so they cannot be listed "
            "in advance; the wildcard is limited to the avatars/ prefix of this one bucket.",
        )

    def _logical_id(self, bucket: s3.Bucket) -> str:
        return self.resolve(bucket.node.default_child.logical_id)
