"""Avatar CDN stack: CloudFront with Origin Access Control in front of the private avatars bucket.

Why a stack of its own, and why it owns the avatars bucket's policy (cdk/README.md, "Avatar
delivery"):

* The bucket policy must name this distribution (``aws:SourceArn``), and the distribution must
  name the bucket (its origin). With both in the data stack, moto's CloudFormation -- which the
  deploy rehearsal runs the data stack on -- would fail the stack: it skips ``AWS::CloudFront::*``
  and any ``GetAtt`` on a skipped resource fails. Split across two stacks, whichever stack held
  the policy would reference the other one, so only one direction is possible without a cycle:
  this stack references the data stack (bucket name, ARN, domain), never the reverse.
* A bucket has exactly one policy. So this stack writes the *whole* policy of the avatars bucket:
  the TLS-only denies (plain HTTP, TLS below 1.2) and the CloudFront allow. The data stack creates
  the bucket without a policy; ``cdk deploy --all`` deploys this stack right after it, before any
  pod can write an avatar. Destroying this stack alone removes the TLS-only denies as well.
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from users_api_infra.nag import acknowledge
from users_api_infra.settings import EnvSettings
from users_api_infra.versions import AVATARS_PREFIX

# Objects are immutable: every upload gets a new random key and nothing is ever overwritten, so
# browsers and CloudFront may keep an avatar for a year without revalidating.
AVATAR_CACHE_CONTROL = "public, max-age=31536000, immutable"
MINIMUM_TLS_VERSION = "1.2"

# CDK warns that it cannot edit an imported bucket's policy; this stack writes that policy
# itself (AvatarsBucketPolicy below), which is the point of importing the bucket.
_IMPORTED_BUCKET_POLICY_WARNING = "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac"


def tls_only_statements(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """The same denies ``enforce_ssl=True, minimum_tls_version=1.2`` writes for a CDK bucket."""
    resources = [bucket.bucket_arn, bucket.arn_for_objects("*")]
    return [
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:*"],
            resources=resources,
            conditions={"Bool": {"aws:SecureTransport": "false"}},
        ),
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:*"],
            resources=resources,
            conditions={"NumericLessThan": {"s3:TlsVersion": MINIMUM_TLS_VERSION}},
        ),
    ]


class AvatarCdnStack(Stack):
    """CloudFront distribution (OAC) serving avatars/* and the avatars bucket's one policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvSettings,
        avatars_bucket: s3.IBucket,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)

        # Imported by attributes: CDK must not try to add statements to a policy in the data
        # stack (that would make the data stack reference this one: a cycle).
        bucket = s3.Bucket.from_bucket_attributes(
            self,
            "AvatarsBucket",
            bucket_arn=avatars_bucket.bucket_arn,
            bucket_name=avatars_bucket.bucket_name,
            bucket_regional_domain_name=avatars_bucket.bucket_regional_domain_name,
        )
        Annotations.of(self).acknowledge_warning(
            _IMPORTED_BUCKET_POLICY_WARNING,
            "AvatarsBucketPolicy in this stack grants the distribution s3:GetObject on avatars/*",
        )

        # CloudFront names are global to the account: the region in the name lets the same
        # environment exist in two regions of one account without an "already exists".
        global_name = f"users-api-{settings.name}-avatars-{Aws.REGION}"
        oac = cloudfront.S3OriginAccessControl(
            self,
            "AvatarsOriginAccessControl",
            origin_access_control_name=global_name,
            description=f"users-api {settings.name}: CloudFront signs every request to the avatars bucket",
            signing=cloudfront.Signing.SIGV4_ALWAYS,
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(
            bucket,
            origin_access_control=oac,
            origin_access_levels=[cloudfront.AccessLevel.READ],
        )

        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "ImmutableAvatarHeaders",
            response_headers_policy_name=global_name,
            comment="users-api avatars: immutable objects, long-lived caching, no sniffing",
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Cache-Control", value=AVATAR_CACHE_CONTROL, override=True
                    )
                ]
            ),
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    override=True,
                ),
            ),
        )

        self.distribution = cloudfront.Distribution(
            self,
            "AvatarsDistribution",
            comment=f"users-api {settings.name} avatars",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=False,  # images are already compressed
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_ipv6=True,
        )

        # The avatars bucket's one policy: TLS only, and CloudFront -- this distribution only --
        # may read objects under avatars/. Nobody else gets a read: the bucket stays private.
        self.bucket_policy = s3.CfnBucketPolicy(
            self,
            "AvatarsBucketPolicy",
            bucket=bucket.bucket_name,
            policy_document=iam.PolicyDocument(
                statements=[
                    *tls_only_statements(bucket),
                    iam.PolicyStatement(
                        sid="CloudFrontReadsAvatars",
                        effect=iam.Effect.ALLOW,
                        principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                        actions=["s3:GetObject"],
                        resources=[bucket.arn_for_objects(AVATARS_PREFIX + "*")],
                        conditions={
                            "StringEquals": {"AWS:SourceArn": self.distribution.distribution_arn}
                        },
                    ),
                ]
            ).to_json(),
        )

        self._acknowledgements()

        CfnOutput(
            self,
            "AvatarBaseUrl",
            value=f"https://{self.distribution.distribution_domain_name}",
            description="AVATAR_BASE_URL for the app (Helm config.avatarBaseUrl)",
        )

    def _acknowledgements(self) -> None:
        distribution = self.distribution
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Avatars are profile pictures with unguessable keys, served to every country the "
            "API serves; a geo restriction would only break avatar_url for some users.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR2",
            "The distribution serves only GET/HEAD of immutable, cache-optimized objects from a "
            "private bucket; WAF (about $5/month + per-request fees) is left to operators.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR3",
            "Standard logging writes through S3 ACLs, which every bucket here disables "
            "(BucketOwnerEnforced); CloudFront's CloudWatch metrics cover requests and errors.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR4",
            "The default *.cloudfront.net certificate cannot raise its minimum viewer TLS; a "
            "custom domain with an ACM certificate and TLSv1.2_2021 is the operator's choice.",
        )
