"""The three definitions of the app's AWS resources cannot drift apart silently.

1. the CDK data stack (cdk/users_api_infra/data_stack.py), as synthesized: what runs in AWS --
   with the avatars bucket's policy, which the avatar CDN stack (cdn_stack.py) owns;
2. localstack/terraform/: what tflocal creates in LocalStack;
3. api/devtools/provisioning.py: what the dev bootstrap (`make run`) creates in the emulator.

Compared: the table name default, key schema and billing mode; the bucket protections (public
access block, encryption, versioning, object ownership, TLS-only policy); the app role's and the
sweep role's actions, their resources and the avatars/ condition, and who may assume them.
Not compared, on purpose: settings that exist only in AWS (PITR, KMS choice, deletion
protection, retention, access logs, lifecycle rules), the CloudFront allow in the bucket policy
(no CloudFront in an emulator), and the Pod Identity conditions (session tags, source account and
cluster ARN), which name a cluster that a local emulator does not have.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import Settings
from devtools import provisioning
from tests.localstack.iam import describe, permissions
from tests.localstack.tfmodel import TerraformModel

TABLE_ARN = "<aws_dynamodb_table.users.arn>"
BUCKET_ARN = "<aws_s3_bucket.avatars.arn>"
PREFIX = provisioning.AVATARS_PREFIX

# The data contract (README, Operations): a TLS-only bucket policy (and, as in the CDK stack, TLS >= 1.2).
TLS_ONLY_POLICY = [
    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
     "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
     "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
     "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
]

# The app role (README, Operations): exactly these, and nothing else. No s3:DeleteObjectVersion:
# a failed write's compensation leaves a delete marker; the noncurrent-version expiry removes
# the bytes, and a compromised pod cannot purge history.
CONTRACT_APP_POLICY = [
    {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DescribeTable"],
     "Resource": TABLE_ARN},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET_ARN,
     "Condition": {"StringLike": {"s3:prefix": ["avatars/*", "avatars/"]}}},
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
     "Resource": f"{BUCKET_ARN}/avatars/*"},
]

# The orphan sweep's own role: list the prefix, read the users, delete (a delete marker).
CONTRACT_SWEEP_POLICY = [
    {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET_ARN,
     "Condition": {"StringLike": {"s3:prefix": ["avatars/*", "avatars/"]}}},
    {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"{BUCKET_ARN}/avatars/*"},
]


# --- Terraform model helpers ------------------------------------------------------------------


def tf_key_schema(tf: TerraformModel) -> tuple[list[dict], list[dict]]:
    _, table = tf.resource("aws_dynamodb_table", "users")
    schema = [{"AttributeName": table["hash_key"], "KeyType": "HASH"}]
    if "range_key" in table:
        schema.append({"AttributeName": table["range_key"], "KeyType": "RANGE"})
    attributes = [{"AttributeName": a["name"], "AttributeType": a["type"]}
                  for a in table["attribute"]]
    return schema, attributes


def tf_public_access_block(tf: TerraformModel) -> dict[str, bool]:
    pab = tf.for_bucket("aws_s3_bucket_public_access_block", "avatars")
    return {
        "BlockPublicAcls": pab.get("block_public_acls", False),
        "IgnorePublicAcls": pab.get("ignore_public_acls", False),
        "BlockPublicPolicy": pab.get("block_public_policy", False),
        "RestrictPublicBuckets": pab.get("restrict_public_buckets", False),
    }


def tf_encryption(tf: TerraformModel) -> str:
    sse = tf.for_bucket("aws_s3_bucket_server_side_encryption_configuration", "avatars")
    (rule,) = sse["rule"]
    (default,) = rule["apply_server_side_encryption_by_default"]
    assert "kms_master_key_id" not in default
    return default["sse_algorithm"]


def tf_versioning(tf: TerraformModel) -> str:
    versioning = tf.for_bucket("aws_s3_bucket_versioning", "avatars")
    (config,) = versioning["versioning_configuration"]
    return config["status"]


def tf_ownership(tf: TerraformModel) -> str:
    controls = tf.for_bucket("aws_s3_bucket_ownership_controls", "avatars")
    (rule,) = controls["rule"]
    return rule["object_ownership"]


def tf_bucket_policy(tf: TerraformModel) -> dict:
    policy = tf.for_bucket("aws_s3_bucket_policy", "avatars")
    return tf.resolve(policy["policy"])


def tf_role_policy(tf: TerraformModel, name: str) -> dict:
    _, attachment = tf.resource("aws_iam_role_policy", name)
    assert attachment["role"] == f"${{aws_iam_role.{name}.id}}"
    assert not tf.resources_of("aws_iam_role_policy_attachment"), "no managed policies"
    return tf.resolve(attachment["policy"])


def tf_app_policy(tf: TerraformModel) -> dict:
    return tf_role_policy(tf, "app")


def tf_trust(tf: TerraformModel, name: str = "app") -> dict:
    _, role = tf.resource("aws_iam_role", name)
    return tf.resolve(role["assume_role_policy"])


# --- Terraform <-> dev bootstrap (api/devtools/provisioning.py) ------------------------------


def test_terraform_matches_bootstrap_table(tf: TerraformModel):
    schema, attributes = tf_key_schema(tf)
    assert schema == provisioning.TABLE_KEY_SCHEMA
    assert attributes == provisioning.TABLE_ATTRIBUTE_DEFINITIONS
    _, table = tf.resource("aws_dynamodb_table", "users")
    assert table["billing_mode"] == provisioning.TABLE_BILLING_MODE
    assert tf.resolve(table["name"]) == Settings.users_table


def test_terraform_matches_bootstrap_bucket(tf: TerraformModel):
    _, bucket = tf.resource("aws_s3_bucket", "avatars")
    assert tf.resolve(bucket["bucket"]) == Settings.avatars_bucket
    assert tf_public_access_block(tf) == provisioning.BUCKET_PUBLIC_ACCESS_BLOCK
    assert all(provisioning.BUCKET_PUBLIC_ACCESS_BLOCK.values())
    assert tf_encryption(tf) == provisioning.BUCKET_ENCRYPTION_ALGORITHM == "AES256"
    assert tf_versioning(tf) == provisioning.BUCKET_VERSIONING == "Enabled"
    assert tf_ownership(tf) == provisioning.BUCKET_OBJECT_OWNERSHIP == "BucketOwnerEnforced"


def test_terraform_bucket_policy_only_denies_insecure_transport(tf: TerraformModel):
    # The bootstrap sets no bucket policy (moto would enforce it against its plain-HTTP
    # endpoint); LocalStack Community does not enforce bucket policies, so Terraform keeps
    # the CDK stack's policy. Compared with the synthesized template below.
    actual = permissions(tf_bucket_policy(tf)["Statement"])
    assert actual == permissions(TLS_ONLY_POLICY), describe(actual)


def test_terraform_prefix_matches_the_app(tf: TerraformModel):
    assert tf.locals["avatars_prefix"] == PREFIX == "avatars/"


def test_terraform_app_policy_is_exactly_the_contract(tf: TerraformModel):
    actual = permissions(tf_app_policy(tf)["Statement"])
    expected = permissions(CONTRACT_APP_POLICY)
    assert actual == expected, describe(actual ^ expected)
    assert not any("GetObject" in action for _, action, *_ in actual)
    assert not any(action == "s3:DeleteObjectVersion" for _, action, *_ in actual)


def test_terraform_sweep_policy_is_exactly_the_contract(tf: TerraformModel):
    actual = permissions(tf_role_policy(tf, "sweep")["Statement"])
    expected = permissions(CONTRACT_SWEEP_POLICY)
    assert actual == expected, describe(actual ^ expected)


# --- Terraform <-> CDK data stack --------------------------------------------------------------
# `cdk_templates` (tests/fixtures/cdk_synth.py, registered in tests/conftest.py) synthesizes the
# CDK app once per session: {"dev"|"prod": {"data"|"registry"|"avatars-cdn"|"cluster": template}}.


class CdkDataStack:
    """The app's resources in a synthesized data stack, with intrinsics mapped to symbols.

    ``cdn`` is the avatar CDN stack's template: it owns the avatars bucket's one policy and
    refers to the bucket through the data stack's outputs (Fn::GetStackOutput)."""

    def __init__(self, template: dict, cdn: dict, stack_name: str):
        self.resources: dict[str, dict] = template["Resources"]
        self.outputs: dict[str, dict] = template.get("Outputs", {})
        self.cdn_resources: dict[str, dict] = cdn["Resources"]
        self.stack_name = stack_name
        self.table_id = self._one("AWS::DynamoDB::Table")
        self.bucket_id = self._avatars_bucket()
        self.role_id = self._pod_identity_role("AppRole")
        self.sweep_role_id = self._pod_identity_role("SweepRole")

    def _of_type(self, rtype: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == rtype}

    def _one(self, rtype: str) -> str:
        found = list(self._of_type(rtype))
        assert len(found) == 1, f"expected one {rtype} in the data stack, found {found}"
        return found[0]

    def _avatars_bucket(self) -> str:
        # The data stack also has an access-log bucket; the avatars one is the bucket whose
        # name the stack outputs for the app (AVATARS_BUCKET).
        buckets = self._of_type("AWS::S3::Bucket")
        value = self.outputs.get("AvatarsBucketName", {}).get("Value")
        assert isinstance(value, dict) and value.get("Ref") in buckets, (
            f"output AvatarsBucketName should Ref one of {sorted(buckets)}, got {value!r}")
        return value["Ref"]

    def _pod_identity_role(self, prefix: str) -> str:
        found = [k for k, v in self._of_type("AWS::IAM::Role").items()
                 if "pods.eks.amazonaws.com" in repr(v["Properties"]["AssumeRolePolicyDocument"])]
        assert len(found) == 2, f"expected the app and sweep roles (EKS Pod Identity), found {found}"
        (role_id,) = [k for k in found if k.startswith(prefix)]
        return role_id

    def props(self, logical_id: str) -> dict:
        return self.resources[logical_id]["Properties"]

    def resolve(self, value: Any) -> Any:
        symbols = {self.table_id: TABLE_ARN, self.bucket_id: BUCKET_ARN}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # IAM condition values; Terraform writes them as strings
        if isinstance(value, dict) and set(value) == {"Fn::GetStackOutput"}:
            # A reference from the CDN stack into this one: what that output stands for.
            ref = value["Fn::GetStackOutput"]
            assert ref["StackName"] == self.stack_name, ref
            return self.resolve(self.outputs[ref["OutputName"]]["Value"])
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            logical_id, attr = value["Fn::GetAtt"]
            if attr == "Arn" and logical_id in symbols:
                return symbols[logical_id]
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(p)) for p in parts)
        if isinstance(value, (dict, list)):
            return repr(value)  # unknown intrinsic: compares unequal, and shows up in the diff
        return value

    def role_policy_statements(self, role_id: str) -> list[dict]:
        role = self.props(role_id)
        assert not role.get("ManagedPolicyArns"), f"{role_id} has no managed policies"
        statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        for policy in self._of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def app_policy_statements(self) -> list[dict]:
        return self.role_policy_statements(self.role_id)

    def bucket_policy_statements(self) -> list[dict]:
        bucket_ref = {"Ref": self.bucket_id}
        in_data = [p for p in self._of_type("AWS::S3::BucketPolicy").values()
                   if p["Properties"]["Bucket"] == bucket_ref]
        assert not in_data, "the avatars bucket's policy belongs to the CDN stack alone"
        policies = [p["Properties"]["PolicyDocument"]["Statement"]
                    for p in self.cdn_resources.values()
                    if p["Type"] == "AWS::S3::BucketPolicy"
                    and self.resolve(p["Properties"]["Bucket"]) == self.resolve(bucket_ref)]
        assert len(policies) == 1, "expected one bucket policy on the avatars bucket"
        return policies[0]


@pytest.fixture(scope="module")
def cdk_data_stacks(cdk_templates) -> list[CdkDataStack]:
    """The data stack of every synthesized environment (dev and prod): the app's resources
    must be the same in both, and the same as Terraform's."""
    assert set(cdk_templates) >= {"dev", "prod"}, sorted(cdk_templates)
    return [CdkDataStack(cdk_templates[env]["data"], cdk_templates[env]["avatars-cdn"],
                         f"users-api-{env}-data")
            for env in sorted(cdk_templates)]


def test_cdk_and_terraform_table(tf: TerraformModel, cdk_data_stacks):
    schema, attributes = tf_key_schema(tf)
    _, table = tf.resource("aws_dynamodb_table", "users")
    for cdk in cdk_data_stacks:
        props = cdk.props(cdk.table_id)
        assert props["KeySchema"] == schema == provisioning.TABLE_KEY_SCHEMA
        assert props["AttributeDefinitions"] == attributes
        assert props["BillingMode"] == table["billing_mode"] == provisioning.TABLE_BILLING_MODE
        # In AWS, CloudFormation names the table; the fixed "users" is the emulators' default,
        # the same in Terraform, the app and the bootstrap.
        assert "TableName" not in props
    assert tf.resolve(table["name"]) == Settings.users_table == "users"


def test_cdk_and_terraform_bucket_protections(tf: TerraformModel, cdk_data_stacks):
    for cdk in cdk_data_stacks:
        props = cdk.props(cdk.bucket_id)
        assert props["PublicAccessBlockConfiguration"] == tf_public_access_block(tf)
        (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": tf_encryption(tf)}
        assert props["VersioningConfiguration"] == {"Status": tf_versioning(tf)}
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": tf_ownership(tf)}]}
        assert "BucketName" not in props  # generated in AWS; "users-api-avatars" is local only


def test_cdk_and_terraform_tls_only_bucket_policy(tf: TerraformModel, cdk_data_stacks):
    terraform = permissions(tf_bucket_policy(tf)["Statement"])
    for cdk in cdk_data_stacks:
        # Only the Deny statements: the Allow is CloudFront's (no CloudFront in an emulator).
        denies = [s for s in cdk.bucket_policy_statements() if s["Effect"] == "Deny"]
        deployed = permissions(denies, cdk.resolve)
        assert deployed == terraform, describe(deployed ^ terraform)


def test_cdk_and_terraform_app_role_permissions(tf: TerraformModel, cdk_data_stacks):
    terraform = permissions(tf_app_policy(tf)["Statement"])
    for cdk in cdk_data_stacks:
        deployed = permissions(cdk.app_policy_statements(), cdk.resolve)
        assert deployed == terraform, describe(deployed ^ terraform)
        assert deployed == permissions(CONTRACT_APP_POLICY)


def test_cdk_and_terraform_sweep_role_permissions(tf: TerraformModel, cdk_data_stacks):
    terraform = permissions(tf_role_policy(tf, "sweep")["Statement"])
    for cdk in cdk_data_stacks:
        deployed = permissions(cdk.role_policy_statements(cdk.sweep_role_id), cdk.resolve)
        assert deployed == terraform, describe(deployed ^ terraform)
        assert deployed == permissions(CONTRACT_SWEEP_POLICY)


def test_cdk_and_terraform_app_role_trust(tf: TerraformModel, cdk_data_stacks):
    def who_may_assume(statements, resolve=lambda v: v) -> frozenset:
        # Principal and action only: CDK also pins the session tags to its cluster,
        # namespace and service account, which have no counterpart in an emulator.
        return frozenset((effect, action, principals)
                         for effect, action, _, _, principals in permissions(
                             [{k: v for k, v in s.items() if k != "Condition"}
                              for s in statements], resolve))

    terraform = who_may_assume(tf_trust(tf)["Statement"])
    assert terraform == {("Allow", action, frozenset({("Service", "pods.eks.amazonaws.com")}))
                         for action in ("sts:AssumeRole", "sts:TagSession")}
    assert who_may_assume(tf_trust(tf, "sweep")["Statement"]) == terraform
    for cdk in cdk_data_stacks:
        for role_id in (cdk.role_id, cdk.sweep_role_id):
            trust = cdk.props(role_id)["AssumeRolePolicyDocument"]["Statement"]
            assert who_may_assume(trust, cdk.resolve) == terraform


def test_three_prefixes_agree(tf: TerraformModel):
    from users_api_infra.versions import AVATARS_PREFIX as CDK_PREFIX

    assert tf.locals["avatars_prefix"] == provisioning.AVATARS_PREFIX == CDK_PREFIX
