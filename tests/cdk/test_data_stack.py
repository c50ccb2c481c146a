"""Data stack: DynamoDB users table, S3 avatars bucket (+ access-log bucket), app and sweep roles."""

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


# prod: RETAIN_ON_UPDATE_OR_DELETE -- kept on delete and replacement, removed only when the
# stack's first create rolls back (nothing to keep then, and nothing left to collide with).
RETENTION = {"prod": ("RetainExceptOnCreate", "Retain"), "dev": ("Delete", "Delete")}


@pytest.mark.parametrize(("env_name", "protected"), [("prod", True), ("dev", False)])
def test_table_retention(cdk_templates, env_name, protected):
    _, table = one(cdk_templates[env_name]["data"], "AWS::DynamoDB::Table")
    assert props(table)["DeletionProtectionEnabled"] is protected
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == RETENTION[env_name]


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


def test_avatars_bucket_policy_is_not_in_the_data_stack(data):
    """A bucket has one policy; the avatars bucket's is the CDN stack's (test_cdn_stack.py).
    A policy here too (e.g. from CDK's auto_delete_objects) would overwrite it."""
    avatars_id, _ = avatars_bucket(data)
    for policy in of_type(data, "AWS::S3::BucketPolicy").values():
        assert props(policy)["Bucket"] != {"Ref": avatars_id}


def test_every_bucket_blocks_public_access_acls_and_encrypts(data):
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


def test_access_log_bucket_is_tls_only(data):
    bucket_id, _ = access_logs_bucket(data)
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
                                # Short: only deleted avatars have noncurrent versions (keys
                                # are random), and this is how long their bytes stay.
                                "NoncurrentVersionExpiration": {
                                    "NoncurrentDays": 7 if env == "prod" else 1
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


@pytest.mark.parametrize("env_name", ["prod", "dev"])
def test_bucket_retention(cdk_templates, env_name):
    data = cdk_templates[env_name]["data"]
    for _, bucket in of_type(data, "AWS::S3::Bucket").items():
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == RETENTION[env_name]
    auto_delete = of_type(data, "Custom::S3AutoDeleteObjects")
    # dev: emptied on `cdk destroy` so the stack deletes cleanly; prod: never.
    assert len(auto_delete) == (2 if env_name == "dev" else 0)
    emptied = {props(r)["BucketName"]["Ref"] for r in auto_delete.values()}
    assert emptied == (set(of_type(data, "AWS::S3::Bucket")) if env_name == "dev" else set())


def test_dev_avatars_bucket_is_emptied_through_an_identity_policy(cdk_templates):
    """CDK's clean-up function gets its rights on the avatars bucket from a policy on its role
    (not a bucket policy, which the CDN stack owns), and the tag its handler checks is set."""
    data = cdk_templates["dev"]["data"]
    avatars_id, bucket = avatars_bucket(data)
    assert {"Key": "aws-cdk:auto-delete-objects", "Value": "true"} in props(bucket)["Tags"]
    (custom,) = [
        r for r in of_type(data, "Custom::S3AutoDeleteObjects").values()
        if props(r)["BucketName"] == {"Ref": avatars_id}
    ]
    policy_id, policy = one(data, "AWS::IAM::Policy", "AvatarsAutoDeletePolicy")
    assert policy_id in custom["DependsOn"]
    # The same clean-up function (and its role) CDK made for the access-log bucket.
    logs_id, _ = access_logs_bucket(data)
    (logs_custom,) = [r for r in of_type(data, "Custom::S3AutoDeleteObjects").values()
                      if props(r)["BucketName"] == {"Ref": logs_id}]
    assert props(custom)["ServiceToken"] == props(logs_custom)["ServiceToken"]
    role_id, _ = one(data, "AWS::IAM::Role", "CustomS3AutoDeleteObjectsCustomResourceProviderRole")
    assert props(policy)["Roles"] == [{"Ref": role_id}], "by name: plain Ref, emulator-friendly"
    (statement,) = statements(props(policy)["PolicyDocument"])
    assert statement["Resource"] == [
        {"Fn::GetAtt": [avatars_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [avatars_id, "Arn"]}, "/*"]]},
    ]
    assert "AvatarsAutoDeletePolicy" not in repr(cdk_templates["prod"]["data"]["Resources"])


# ----------------------------------------------------------------------------- the app role
CONTRACT_TABLE_ACTIONS = {"dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable"}
# No s3:DeleteObjectVersion: the failed-write compensation leaves a delete marker, and the
# noncurrent-version expiry removes the bytes. A compromised pod cannot purge history.
CONTRACT_OBJECT_ACTIONS = {"s3:PutObject", "s3:DeleteObject"}


def app_role(data: dict) -> tuple[str, dict]:
    return one(data, "AWS::IAM::Role", "AppRole")


def sweep_role(data: dict) -> tuple[str, dict]:
    return one(data, "AWS::IAM::Role", "SweepRole")


def role_statements(data: dict, role_id: str) -> list[dict]:
    role = data["Resources"][role_id]
    assert "ManagedPolicyArns" not in props(role)
    assert "Policies" not in props(role)
    policies = [p for p in of_type(data, "AWS::IAM::Policy").values()
                if {"Ref": role_id} in props(p)["Roles"]]
    assert len(policies) == 1, f"exactly one policy grants {role_id} its permissions"
    return statements(props(policies[0])["PolicyDocument"])


def app_statements(data: dict) -> list[dict]:
    return role_statements(data, app_role(data)[0])


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


def test_app_role_has_no_wildcard_actions_no_get_object_no_version_delete(data):
    for statement in app_statements(data):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions)
        assert "s3:GetObject" not in actions
        assert "s3:DeleteObjectVersion" not in actions
        assert statement["Effect"] == "Allow"


def test_sweep_role_permissions_are_exactly_what_the_sweep_calls(data):
    """ListObjectsV2 under avatars/, Scan of the users, DeleteObject (a delete marker): no
    writes, no table describe, no version deletes, nothing the web pods need."""
    table_id, _ = one(data, "AWS::DynamoDB::Table")
    bucket_id, _ = avatars_bucket(data)
    bucket_arn = {"Fn::GetAtt": [bucket_id, "Arn"]}
    expected = {
        normalized({"Effect": "Allow", "Action": "dynamodb:Scan",
                    "Resource": {"Fn::GetAtt": [table_id, "Arn"]}}),
        normalized({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": ["avatars/*", "avatars/"]}}}),
        normalized({"Effect": "Allow", "Action": "s3:DeleteObject",
                    "Resource": {"Fn::Join": ["", [bucket_arn, "/avatars/*"]]}}),
    }
    actual = [normalized(s) for s in role_statements(data, sweep_role(data)[0])]
    assert len(actual) == len(set(actual))
    assert set(actual) == expected


def pod_identity_trust(env: str, service_account: str) -> list[dict]:
    return [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": {"Ref": "AWS::AccountId"},
                    "aws:RequestTag/eks-cluster-name": f"users-api-{env}",
                    "aws:RequestTag/kubernetes-namespace": "users-api",
                    "aws:RequestTag/kubernetes-service-account": service_account,
                },
                # The cluster's ARN from tokens: no cross-stack reference, no literal region.
                "ArnEquals": {
                    "aws:SourceArn": {
                        "Fn::Join": ["", [
                            "arn:", {"Ref": "AWS::Partition"}, ":eks:", {"Ref": "AWS::Region"},
                            ":", {"Ref": "AWS::AccountId"}, f":cluster/users-api-{env}",
                        ]]
                    }
                },
            },
        }
    ]


@pytest.mark.parametrize(("role", "service_account"),
                         [("AppRole", "users-api"), ("SweepRole", "users-api-sweep")])
def test_roles_trust_only_eks_pod_identity_of_this_account_cluster_and_service_account(
        data, env, role, service_account):
    _, resource = one(data, "AWS::IAM::Role", role)
    trust = statements(props(resource)["AssumeRolePolicyDocument"])
    assert trust == pod_identity_trust(env, service_account)
    assert props(resource)["MaxSessionDuration"] == 3600


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
    assert outputs["SweepRoleArn"]["Value"] == {"Fn::GetAtt": [sweep_role(data)[0], "Arn"]}
