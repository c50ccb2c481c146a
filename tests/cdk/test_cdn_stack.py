"""Avatar CDN stack: CloudFront + Origin Access Control, and the avatars bucket's one policy."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.cdk.cfn import ENVS, of_type, one, props, statements

pytestmark = pytest.mark.slow

CACHE_CONTROL = "public, max-age=31536000, immutable"


@pytest.fixture(params=ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture
def cdn(cdk_templates, env) -> dict:
    return cdk_templates[env]["avatars-cdn"]


@pytest.fixture
def data(cdk_templates, env) -> dict:
    return cdk_templates[env]["data"]


def data_output(data: dict, env: str, value: dict) -> dict:
    """What a cross-stack reference into the data stack stands for: the data stack's output."""
    (kind, ref), = value.items()
    assert kind == "Fn::GetStackOutput", value
    assert ref["StackName"] == f"users-api-{env}-data"
    assert ref["Region"] == {"Ref": "AWS::Region"}, "no literal region in a cross-stack reference"
    return data["Outputs"][ref["OutputName"]]["Value"]


def avatars_bucket_id(data: dict) -> str:
    return data["Outputs"]["AvatarsBucketName"]["Value"]["Ref"]


def distribution(cdn: dict) -> tuple[str, dict]:
    logical_id, resource = one(cdn, "AWS::CloudFront::Distribution")
    return logical_id, props(resource)["DistributionConfig"]


def test_distribution_reads_the_avatars_bucket_through_origin_access_control(cdn, data, env):
    _, config = distribution(cdn)
    (origin,) = config["Origins"]
    assert data_output(data, env, origin["DomainName"]) == {
        "Fn::GetAtt": [avatars_bucket_id(data), "RegionalDomainName"]
    }
    oac_id, oac = one(cdn, "AWS::CloudFront::OriginAccessControl")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "OAC, not a legacy OAI"
    oac_config = props(oac)["OriginAccessControlConfig"]
    assert (oac_config["OriginAccessControlOriginType"], oac_config["SigningBehavior"],
            oac_config["SigningProtocol"]) == ("s3", "always", "sigv4")


def test_distribution_is_https_read_only_and_cached(cdk_assertions, env):
    cdk_assertions[env]["avatars-cdn"].has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Enabled": True,
                    "DefaultCacheBehavior": Match.object_like(
                        {
                            "ViewerProtocolPolicy": "redirect-to-https",
                            "AllowedMethods": ["GET", "HEAD"],
                            # AWS managed CachingOptimized policy.
                            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                            "ResponseHeadersPolicyId": {
                                "Ref": Match.string_like_regexp("^ImmutableAvatarHeaders")
                            },
                        }
                    ),
                }
            )
        },
    )


def test_account_global_names_carry_environment_and_region(cdn, env):
    """OAC and response headers policy names are unique per account (CloudFront is global):
    environment and AWS::Region in them keep dev/prod and two regions apart."""
    expected = {"Fn::Join": ["", [f"users-api-{env}-avatars-", {"Ref": "AWS::Region"}]]}
    _, oac = one(cdn, "AWS::CloudFront::OriginAccessControl")
    _, headers = one(cdn, "AWS::CloudFront::ResponseHeadersPolicy")
    assert props(oac)["OriginAccessControlConfig"]["Name"] == expected
    assert props(headers)["ResponseHeadersPolicyConfig"]["Name"] == expected


def test_responses_carry_long_lived_immutable_cache_control(cdn):
    _, policy = one(cdn, "AWS::CloudFront::ResponseHeadersPolicy")
    config = props(policy)["ResponseHeadersPolicyConfig"]
    assert config["CustomHeadersConfig"]["Items"] == [
        {"Header": "Cache-Control", "Value": CACHE_CONTROL, "Override": True}
    ]
    assert config["SecurityHeadersConfig"]["ContentTypeOptions"] == {"Override": True}


def test_the_cdn_stack_owns_the_avatars_bucket_policy(cdn, data, env):
    (policy,) = of_type(cdn, "AWS::S3::BucketPolicy").values()
    assert data_output(data, env, props(policy)["Bucket"]) == {"Ref": avatars_bucket_id(data)}


def _resolve(cdn: dict, data: dict, env: str, value):
    """Replace the data stack's references by the symbol BUCKET_ARN, for readable asserts."""
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        target = data_output(data, env, value)
        assert target == {"Fn::GetAtt": [avatars_bucket_id(data), "Arn"]}, target
        return "BUCKET_ARN"
    if isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == "":
        parts = [_resolve(cdn, data, env, part) for part in value["Fn::Join"][1]]
        if all(isinstance(part, str) for part in parts):
            return "".join(parts)
        return {"Fn::Join": ["", parts]}
    if isinstance(value, list):
        return [_resolve(cdn, data, env, item) for item in value]
    return value


def test_bucket_policy_is_tls_only_and_lets_only_this_distribution_read_avatars(cdn, data, env):
    (policy,) = of_type(cdn, "AWS::S3::BucketPolicy").values()
    found = [
        {**s, "Resource": _resolve(cdn, data, env, s["Resource"])}
        for s in statements(props(policy)["PolicyDocument"])
    ]
    denies = [s for s in found if s["Effect"] == "Deny"]
    allows = [s for s in found if s["Effect"] == "Allow"]
    assert len(found) == 3
    for condition in ({"Bool": {"aws:SecureTransport": "false"}},
                      {"NumericLessThan": {"s3:TlsVersion": "1.2"}}):
        assert {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                "Resource": ["BUCKET_ARN", "BUCKET_ARN/*"], "Condition": condition} in denies
    (allow,) = allows
    distribution_id, _ = distribution(cdn)
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject", "read only: no ListBucket, nothing else"
    assert allow["Resource"] == "BUCKET_ARN/avatars/*"
    (source_arn,) = allow["Condition"]["StringEquals"].values()
    assert set(allow["Condition"]) == {"StringEquals"}
    assert list(allow["Condition"]["StringEquals"]) == ["AWS:SourceArn"]
    assert {"Ref": distribution_id} in source_arn["Fn::Join"][1], "this distribution only"
    assert {"Ref": "AWS::AccountId"} in source_arn["Fn::Join"][1]


def test_avatar_base_url_output(cdn):
    distribution_id, _ = distribution(cdn)
    assert cdn["Outputs"]["AvatarBaseUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}]]
    }


def test_data_stack_stays_deployable_on_the_emulator(data, cdn):
    """moto's CloudFormation skips AWS::CloudFront::* (and bucket policies) and fails a stack
    that GetAtts a skipped resource: the data stack has no CloudFront and refers to no other
    stack, so the dependency runs one way only (the CDN stack reads the data stack)."""
    assert not [r for r in data["Resources"].values() if r["Type"].startswith("AWS::CloudFront::")]
    text = repr(data)
    assert "Fn::GetStackOutput" not in text and "Fn::ImportValue" not in text
    assert of_type(cdn, "AWS::CloudFront::Distribution")
