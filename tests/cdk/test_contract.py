"""Contract with the app: what the dev bootstrap creates in the emulator
(api/devtools/provisioning.py) must match the data stack, so the two cannot drift."""

from __future__ import annotations

import pytest

from tests.cdk.cfn import ENVS, one, props
from users_api_infra import versions

provisioning = pytest.importorskip(
    "devtools.provisioning", reason="api/devtools/provisioning.py (the dev bootstrap) is missing"
)

pytestmark = pytest.mark.slow


@pytest.fixture(params=ENVS)
def data(request, cdk_templates) -> dict:
    return cdk_templates[request.param]["data"]


def avatars_bucket(data: dict) -> dict:
    return props(one(data, "AWS::S3::Bucket", "AvatarsBucket")[1])


def test_table_matches_bootstrap(data):
    table = props(one(data, "AWS::DynamoDB::Table")[1])
    assert table["KeySchema"] == provisioning.TABLE_KEY_SCHEMA
    assert table["AttributeDefinitions"] == provisioning.TABLE_ATTRIBUTE_DEFINITIONS
    assert table["BillingMode"] == provisioning.TABLE_BILLING_MODE


def test_bucket_protections_match_bootstrap(data):
    bucket = avatars_bucket(data)
    assert bucket["PublicAccessBlockConfiguration"] == provisioning.BUCKET_PUBLIC_ACCESS_BLOCK
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": provisioning.BUCKET_ENCRYPTION_ALGORITHM}}
    ]
    assert bucket["VersioningConfiguration"] == {"Status": provisioning.BUCKET_VERSIONING}
    ownership = getattr(provisioning, "BUCKET_OBJECT_OWNERSHIP", "BucketOwnerEnforced")
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": ownership}]}


def test_avatars_prefix_matches_the_app_role_scope(data):
    assert provisioning.AVATARS_PREFIX == versions.AVATARS_PREFIX == "avatars/"
    _, policy = one(data, "AWS::IAM::Policy", "AppPolicy")
    text = repr(props(policy)["PolicyDocument"])
    assert f"/{provisioning.AVATARS_PREFIX}*" in text
    assert repr([provisioning.AVATARS_PREFIX + "*", provisioning.AVATARS_PREFIX]) in text


def test_app_defaults_are_emulator_only_names(data):
    """In AWS the names are generated and reach the app through stack outputs -> Helm values ->
    USERS_TABLE / AVATARS_BUCKET; the fixed defaults never appear in the templates."""
    table = props(one(data, "AWS::DynamoDB::Table")[1])
    assert "TableName" not in table
    assert "BucketName" not in avatars_bucket(data)
    assert {"UsersTableName", "AvatarsBucketName", "AwsRegion"} <= set(data["Outputs"])
