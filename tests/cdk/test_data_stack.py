"""Data stack: DynamoDB users table, S3 avatars bucket (+ access-log bucket), app IAM role."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.cdk.cfn import ENVS, of_type, one, props, statements

pytestmark = pytest.mark.slow


@pytest.fixture(params=ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture
def data(cdk_templates, env) -> dict:
    return cdk_templates[env]["data"]


# --------------------------------------------------------------------------------- the table
def test_table_key_schema_billing_pitr_encryption(cdk_assertions, env):
    template = cdk_assertions[env]["data"]
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "email", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "TableName": Match.absent(),  # generated; reaches the app through the outputs
            "ProvisionedThroughput": Match.absent(),
        },
    )


def test_table_key_schema_is_exactly_email(data):
    _, table = one(data, "AWS::DynamoDB::Table")
    assert props(table)["KeySchema"] == [{"AttributeName": "email", "KeyType": "HASH"}]
    assert props(table)["AttributeDefinitions"] == [{"AttributeName": "email", "AttributeType": "S"}]
    assert "GlobalSecondaryIndexes" not in props(table)


@pytest.mark.parametrize(
    ("env_name", "protected", "policy"),
    [("prod", True, "Retain"), ("dev", False, "Delete")],
)
def test_table_retention(cdk_templates, env_name, protected, policy):
    _, table = one(cdk_templates[env_name]["data"], "AWS::DynamoDB::Table")
    assert props(table)["DeletionProtectionEnabled"] is protected
    assert table["DeletionPolicy"] == policy
    assert table["UpdateReplacePolicy"] == policy


# ------------------------------------------------------------------------------- the buckets
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def avatars_bucket(data: dict) -> tuple[str, dict]:
    return one(data, "AWS::S3::Bucket", "AvatarsBucket")


def access_logs_bucket(data: dict) -> tuple[str, dict]:
    return one(data, "AWS::S3::Bucket", "AccessLogsBucket")


def bucket_policy(data: dict, bucket_id: str) -> list[dict]:
    found = [p for p in of_type(data, "AWS::S3::BucketPolicy").values()
             if props(p)["Bucket"] == {"Ref": bucket_id}]
    assert len(found) == 1
    return statements(props(found[0])["PolicyDocument"])


def test_every_bucket_blocks_public_access_acls_and_plain_http(data):
    buckets = of_type(data, "AWS::S3::Bucket")
    assert set(buckets) == {avatars_bucket(data)[0], access_logs_bucket(data)[0]}
    for bucket_id, bucket in buckets.items():
        p = props(bucket)
        assert p["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_BLOCK, bucket_id
        assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        assert "AccessControl" not in p, "ACLs are disabled"
        assert p["BucketEncryption"] == {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        }
        assert "BucketName" not in p, "bucket names are generated (they are global)"
        tls_only = [
            s for s in bucket_policy(data, bucket_id)
            if s["Effect"] == "Deny" and s["Action"] == "s3:*"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(tls_only) == 1, f"{bucket_id}: no TLS-only deny statement"
        assert tls_only[0]["Principal"] == {"AWS": "*"}
        resources = tls_only[0]["Resource"]
        assert {"Fn::GetAtt": [bucket_id, "Arn"]} in resources
        assert {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]} in resources


def test_avatars_bucket_versioning_lifecycle_and_access_logs(cdk_assertions, data, env):
    logs_id, _ = access_logs_bucket(data)
    cdk_assertions[env]["data"].has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": logs_id},
                "LogFilePrefix": Match.any_value(),
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Status": "Enabled",
                                "NoncurrentVersionExpiration": {
                                    "NoncurrentDays": 30 if env == "prod" else 7
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_access_log_bucket_accepts_only_s3_log_delivery_from_the_avatars_bucket(data, env):
    avatars_id, _ = avatars_bucket(data)
    logs_id, logs = access_logs_bucket(data)
    allows = [s for s in bucket_policy(data, logs_id) if s["Effect"] == "Allow"]
    delivery = [s for s in allows if s["Principal"] == {"Service": "logging.s3.amazonaws.com"}]
    assert len(delivery) == 1
    assert delivery[0]["Action"] == "s3:PutObject"
    assert delivery[0]["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [avatars_id, "Arn"]}}
    others = [s for s in allows if s not in delivery]
    # dev only: the auto-delete-objects custom resource may empty the bucket on `cdk destroy`.
    assert len(others) == (1 if env == "dev" else 0)
    for statement in others:
        assert "CustomS3AutoDeleteObjectsCustomResourceProviderRole" in repr(statement["Principal"])
    rules = props(logs)["LifecycleConfiguration"]["Rules"]
    assert any("ExpirationInDays" in rule for rule in rules), "access logs expire"


@pytest.mark.parametrize(("env_name", "policy"), [("prod", "Retain"), ("dev", "Delete")])
def test_bucket_retention(cdk_templates, env_name, policy):
    data = cdk_templates[env_name]["data"]
    for _, bucket in of_type(data, "AWS::S3::Bucket").items():
        assert bucket["DeletionPolicy"] == policy
    auto_delete = of_type(data, "Custom::S3AutoDeleteObjects")
    # dev: emptied on `cdk destroy` so the stack deletes cleanly; prod: never.
    assert len(auto_delete) == (2 if env_name == "dev" else 0)


# ----------------------------------------------------------------------------- the app role
CONTRACT_TABLE_ACTIONS = {"dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable"}
CONTRACT_OBJECT_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"}


def app_role(data: dict) -> tuple[str, dict]:
    return one(data, "AWS::IAM::Role", "AppRole")


def app_statements(data: dict) -> list[dict]:
    role_id, role = app_role(data)
    assert "ManagedPolicyArns" not in props(role)
    assert "Policies" not in props(role)
    policies = [p for p in of_type(data, "AWS::IAM::Policy").values()
                if {"Ref": role_id} in props(p)["Roles"]]
    assert len(policies) == 1, "exactly one policy grants the app role its permissions"
    return statements(props(policies[0])["PolicyDocument"])


def normalized(statement: dict) -> tuple:
    actions = statement["Action"]
    actions = frozenset(actions if isinstance(actions, list) else [actions])
    resources = statement["Resource"]
    resources = resources if isinstance(resources, list) else [resources]
    return (statement["Effect"], actions, repr(resources), repr(statement.get("Condition")))


def test_app_role_permissions_are_exactly_the_contract(data):
    table_id, _ = one(data, "AWS::DynamoDB::Table")
    bucket_id, _ = avatars_bucket(data)
    bucket_arn = {"Fn::GetAtt": [bucket_id, "Arn"]}
    expected = {
        normalized({"Effect": "Allow", "Action": sorted(CONTRACT_TABLE_ACTIONS),
                    "Resource": {"Fn::GetAtt": [table_id, "Arn"]}}),
        normalized({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": ["avatars/*", "avatars/"]}}}),
        normalized({"Effect": "Allow", "Action": sorted(CONTRACT_OBJECT_ACTIONS),
                    "Resource": {"Fn::Join": ["", [bucket_arn, "/avatars/*"]]}}),
    }
    actual = [normalized(s) for s in app_statements(data)]
    assert len(actual) == len(set(actual))
    assert set(actual) == expected


def test_app_role_has_no_wildcard_actions_and_no_get_object(data):
    for statement in app_statements(data):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions)
        assert "s3:GetObject" not in actions
        assert statement["Effect"] == "Allow"


def test_app_role_trusts_only_eks_pod_identity_for_the_chart_service_account(data, env):
    _, role = app_role(data)
    trust = statements(props(role)["AssumeRolePolicyDocument"])
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-name": f"users-api-{env}",
                    "aws:RequestTag/kubernetes-namespace": "users-api",
                    "aws:RequestTag/kubernetes-service-account": "users-api",
                }
            },
        }
    ]
    assert props(role)["MaxSessionDuration"] == 3600


def test_no_static_credentials_anywhere(cdk_templates):
    for stacks in cdk_templates.values():
        for template in stacks.values():
            assert not of_type(template, "AWS::IAM::AccessKey")
            assert not of_type(template, "AWS::IAM::User")


def test_data_outputs(data):
    outputs = data["Outputs"]
    table_id, _ = one(data, "AWS::DynamoDB::Table")
    bucket_id, _ = avatars_bucket(data)
    role_id, _ = app_role(data)
    assert outputs["UsersTableName"]["Value"] == {"Ref": table_id}
    assert outputs["AvatarsBucketName"]["Value"] == {"Ref": bucket_id}
    assert outputs["AwsRegion"]["Value"] == {"Ref": "AWS::Region"}
    assert outputs["AppRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
