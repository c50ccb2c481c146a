"""Data stack: the users table, the avatars bucket (+ its access-log bucket) and the app's IAM role."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from users_api_infra.nag import acknowledge
from users_api_infra.settings import EnvSettings
from users_api_infra.versions import AVATARS_PREFIX, NAMESPACE, SERVICE_ACCOUNT

# The only calls the service makes (see the API's README and CONTRACT "IAM"):
#   POST /user     s3:PutObject, dynamodb:PutItem (conditional), on failure s3:DeleteObjectVersion
#                  (the bucket is versioned: deleting the version we wrote leaves no delete marker;
#                  s3:DeleteObject covers an unversioned delete)
#   GET /users     dynamodb:Scan
#   GET /readyz    dynamodb:DescribeTable, s3:ListBucket (ListObjectsV2 Prefix=avatars/, MaxKeys=1)
#   sweep-orphans  dynamodb:Scan, s3:ListBucket under avatars/, s3:DeleteObject(Version)
TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable")
BUCKET_LIST_ACTIONS = ("s3:ListBucket",)
OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
LIST_PREFIXES = (AVATARS_PREFIX + "*", AVATARS_PREFIX)

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


class DataStack(Stack):
    """DynamoDB users table, S3 avatars bucket, S3 access-log bucket, app IAM role."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: EnvSettings, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        removal = settings.removal_policy
        ephemeral = not settings.retain_data

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
            deletion_protection=settings.retain_data,
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
            auto_delete_objects=ephemeral,
        )
        acknowledge(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This bucket is the server-access-log destination for the avatars bucket; logging "
            "it to itself would recurse and logging it elsewhere would need a third bucket.",
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
            enforce_ssl=True,  # bucket policy denies aws:SecureTransport=false
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
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
            auto_delete_objects=ephemeral,
        )

        # ---------------------------------------------------------------- app IAM role
        # EKS Pod Identity: the EKS Auth service (pods.eks.amazonaws.com) assumes this role
        # for pods whose ServiceAccount has an association (made in the cluster stack). The
        # conditions pin it to this cluster, namespace and service account via the session
        # tags Pod Identity always sends, so no other association can borrow the role.
        pod_identity = iam.SessionTagsPrincipal(  # adds sts:TagSession next to sts:AssumeRole
            iam.ServicePrincipal(POD_IDENTITY_SERVICE)
        ).with_conditions(
            {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-name": settings.cluster_name,
                    "aws:RequestTag/kubernetes-namespace": NAMESPACE,
                    "aws:RequestTag/kubernetes-service-account": SERVICE_ACCOUNT,
                }
            }
        )
        self.app_role = iam.Role(
            self,
            "AppRole",
            assumed_by=pod_identity,
            description=(
                f"users-api pods in {settings.cluster_name} "
                f"(system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}) via EKS Pod Identity"
            ),
            max_session_duration=Duration.hours(1),
        )

        object_arn = self.avatars_bucket.arn_for_objects(AVATARS_PREFIX + "*")
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
                iam.PolicyStatement(
                    sid="ListAvatarsPrefix",
                    actions=list(BUCKET_LIST_ACTIONS),
                    resources=[self.avatars_bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": list(LIST_PREFIXES)}},
                ),
                iam.PolicyStatement(
                    sid="AvatarObjects",
                    actions=list(OBJECT_ACTIONS),
                    resources=[object_arn],
                ),
            ],
        )
        acknowledge(
            self.app_policy,
            f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.avatars_bucket)}.Arn>"
            f"/{AVATARS_PREFIX}*]",
            "Object keys are server-generated (avatars/<32 hex>.<ext>) so they cannot be listed "
            "in advance; the wildcard is limited to the avatars/ prefix of this one bucket.",
        )

        # ---------------------------------------------------------------- outputs
        CfnOutput(self, "UsersTableName", value=self.table.table_name,
                  description="USERS_TABLE for the app (Helm config.usersTable)")
        CfnOutput(self, "AvatarsBucketName", value=self.avatars_bucket.bucket_name,
                  description="AVATARS_BUCKET for the app (Helm config.avatarsBucket)")
        CfnOutput(self, "AwsRegion", value=Aws.REGION,
                  description="AWS_REGION for the app (Helm config.awsRegion)")
        CfnOutput(self, "AppRoleArn", value=self.app_role.role_arn,
                  description="IAM role bound to the users-api service account by Pod Identity")

    def _logical_id(self, bucket: s3.Bucket) -> str:
        return self.resolve(bucket.node.default_child.logical_id)
