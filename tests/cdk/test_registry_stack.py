"""Registry stack: the ECR repository."""

from __future__ import annotations

import json

import pytest

from tests.cdk.cfn import ENVS, one, props

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("env", ENVS)
def test_ecr_scan_on_push_immutable_tags(cdk_assertions, env):
    cdk_assertions[env]["registry"].has_resource_properties(
        "AWS::ECR::Repository",
        {
            # One repository per environment: dev and prod never collide in one account.
            "RepositoryName": f"users-api-{env}",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "ImageTagMutability": "IMMUTABLE",
        },
    )
    # Encrypted at rest with AES256, ECR's default: CDK omits EncryptionConfiguration for it.
    _, repository = one(cdk_assertions[env]["registry"].to_json(), "AWS::ECR::Repository")
    assert props(repository).get("EncryptionConfiguration", {"EncryptionType": "AES256"}) == {
        "EncryptionType": "AES256"
    }


@pytest.mark.parametrize(
    ("env", "policy", "empty", "kept"),
    # prod: named and retained, so RETAIN_ON_UPDATE_OR_DELETE (a failed first create removes it).
    [("prod", "RetainExceptOnCreate", False, 100), ("dev", "Delete", True, 20)],
)
def test_ecr_retention_and_lifecycle(cdk_templates, env, policy, empty, kept):
    _, repository = one(cdk_templates[env]["registry"], "AWS::ECR::Repository")
    assert repository["DeletionPolicy"] == policy
    assert props(repository).get("EmptyOnDelete", False) is empty
    rules = json.loads(props(repository)["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[1]["selection"]["countNumber"] == kept


@pytest.mark.parametrize("env", ENVS)
def test_registry_outputs(cdk_templates, env):
    template = cdk_templates[env]["registry"]
    repository_id, _ = one(template, "AWS::ECR::Repository")
    assert "RepositoryUri" in template["Outputs"]
    assert repository_id in repr(template["Outputs"]["RepositoryUri"]["Value"])
