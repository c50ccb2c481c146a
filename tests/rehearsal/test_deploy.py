"""The rehearsal's deploy: the real CDK CLI into a private emulator, then every resource read back.

moto's CloudFormation reports CREATE_COMPLETE while skipping resource types and properties it does
not model; these tests hold the rehearsal to what really exists (README, "Deploy rehearsal").
"""

from __future__ import annotations

import json
import re

import pytest

from tests.rehearsal.harness import (
    ANSWERED_CUSTOM_RESOURCES,
    API_CREATED,
    API_PROVISIONED_STACKS,
    NOT_DEPLOYED_STACKS,
    REPO,
    SKIPPED,
)
from tests.rehearsal.inventory import REPAIRS, UNREPAIRABLE

pytestmark = pytest.mark.slow


def test_bootstrap_and_deploy_ran_through_the_real_cli(rehearsal):
    argvs = [argv for argv, _, _ in rehearsal.deployment.cli_log]
    assert argvs[0][1:3] == ["bootstrap", f"aws://{rehearsal.deployment.account}/{rehearsal.deployment.region}"]
    deploy = next(argv for argv in argvs if argv[1] == "deploy")
    assert str(rehearsal.deployment.assembly) in deploy  # the session's own synth, not a new one
    assert all(code == 0 for _, code, _ in rehearsal.deployment.cli_log)
    ssm = rehearsal.deployment.client("ssm")
    assert ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"]


def test_every_stack_is_accounted_for(rehearsal):
    roles = set(rehearsal.stack_names)
    assert roles == {"data", "registry", "avatars-cdn", "cluster"}
    for role, name in rehearsal.stack_names.items():
        if role in NOT_DEPLOYED_STACKS:
            assert name not in rehearsal.deployment.stacks
        elif role in API_PROVISIONED_STACKS:
            assert rehearsal.deployment.stacks[name].status == "API"
        else:
            assert rehearsal.deployment.stacks[name].status == "CREATE_COMPLETE", name


def test_every_template_resource_exists_in_the_emulator(rehearsal):
    for name, inventory in rehearsal.inventories.items():
        template = rehearsal.deployment.stacks[name].template
        declared = {lid for lid in template["Resources"] if not lid.startswith("CDKMetadata")}
        assert {check.logical_id for check in inventory.final} == declared, name
    problems = [p for inventory in rehearsal.inventories.values() for p in inventory.unexplained()]
    assert problems == []


def test_the_data_stack_is_complete(rehearsal):
    name = rehearsal.stack_names["data"]
    checks = {c.logical_id: c for c in rehearsal.inventories[name].final}
    kinds = {c.kind for c in checks.values()}
    assert {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::IAM::Role", "AWS::IAM::Policy"} <= kinds
    avatars = next(c for c in checks.values() if c.logical_id.startswith("AvatarsBucket")
                   and c.kind == "AWS::S3::Bucket")
    for fact in ("default encryption", "versioning", "lifecycle rules", "public access block",
                 "object ownership", "access logging"):
        assert fact in avatars.verified, fact
    roles = [c for c in checks.values() if c.kind == "AWS::IAM::Role"]
    assert all("trust policy" in c.verified for c in roles)


def test_what_cloudformation_skipped_was_created_through_the_api_or_listed(rehearsal):
    for name, record in rehearsal.deployment.stacks.items():
        if record.status == "API":
            continue
        skipped = rehearsal.deployment.skipped_by_cloudformation(record)
        assert set(skipped.values()) <= set(API_CREATED) | set(SKIPPED), name
        assert set(skipped) <= set(record.api_ids) | {
            lid for lid, kind in skipped.items() if kind in SKIPPED}
    data = rehearsal.deployment.stacks[rehearsal.stack_names["data"]]
    assert "AWS::S3::BucketPolicy" in rehearsal.deployment.skipped_by_cloudformation(data).values()


def test_custom_resources_were_answered_not_run(rehearsal):
    data = rehearsal.deployment.stacks[rehearsal.stack_names["data"]]
    custom = sorted(lid for lid, r in data.resources().items() if r["Type"] in ANSWERED_CUSTOM_RESOURCES)
    assert custom and sorted(data.answered) == custom


def test_the_avatars_bucket_policy_names_the_distribution(rehearsal):
    d, outputs = rehearsal.deployment, rehearsal.outputs
    cdn = d.stacks[rehearsal.stack_names["avatars-cdn"]]
    [distribution_id] = [pid for lid, pid in cdn.api_ids.items()
                         if cdn.resources()[lid]["Type"] == "AWS::CloudFront::Distribution"]
    arn = d.client("cloudfront").get_distribution(Id=distribution_id)["Distribution"]["ARN"]
    policy = json.loads(d.client("s3").get_bucket_policy(Bucket=outputs["AvatarsBucketName"])["Policy"])
    [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": arn}}
    assert allow["Resource"].endswith(f"{outputs['AvatarsBucketName']}/avatars/*")
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {json.dumps(s["Condition"], sort_keys=True) for s in denies} == {
        '{"Bool": {"aws:SecureTransport": "false"}}', '{"NumericLessThan": {"s3:TlsVersion": "1.2"}}'}


def test_outputs_are_what_the_deploy_flow_reads(rehearsal):
    outputs, live = rehearsal.outputs, rehearsal.cloudformation_outputs
    for key in ("UsersTableName", "AvatarsBucketName", "AwsRegion", "AppRoleArn", "SweepRoleArn",
                "RepositoryUri"):
        assert live[key] == outputs[key], key  # straight from the emulator's CloudFormation
    assert outputs["AwsRegion"] == rehearsal.deployment.region
    d = rehearsal.deployment
    d.client("dynamodb").describe_table(TableName=outputs["UsersTableName"])
    d.client("iam").get_role(RoleName=outputs["SweepRoleArn"].rsplit("/", 1)[1])
    assert re.fullmatch(r"https://[a-z0-9]+\.cloudfront\.net", outputs["AvatarBaseUrl"])
    assert outputs["ClusterName"] == "users-api-dev"  # the cluster template's fixed name
    # what the CLI itself printed for the stacks it deployed (--outputs-file) is the same
    printed = json.loads((rehearsal.deployment.workdir / "cdk-outputs.json").read_text())
    for name, record in rehearsal.deployment.stacks.items():
        if record.status != "API":
            assert printed[name] == record.outputs, name
    assert outputs["IngressClassName"] == "alb"


def test_the_roles_trust_only_pod_identity_with_their_conditions(rehearsal):
    d, outputs = rehearsal.deployment, rehearsal.outputs
    for key, account in (("AppRoleArn", "users-api"), ("SweepRoleArn", "users-api-sweep")):
        role = d.client("iam").get_role(RoleName=outputs[key].rsplit("/", 1)[1])["Role"]
        [statement] = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == d.account
        assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == account
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == (
            f"arn:aws:eks:{d.region}:{d.account}:cluster/{outputs['ClusterName']}")


def test_the_readme_names_every_skipped_type_and_property():
    readme = (REPO / "cdk" / "README.md").read_text()  # the deploy docs live next to the CDK app
    section = readme[readme.index("### Deploy rehearsal"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    section = " ".join(section.split())  # line breaks are not part of a name
    for kind in (*API_CREATED, *SKIPPED, *ANSWERED_CUSTOM_RESOURCES):
        assert f"`{kind}`" in section, kind
    for kind, what in (*REPAIRS, *UNREPAIRABLE):
        assert f"`{kind}` {what}" in section, (kind, what)
    for stack in (*API_PROVISIONED_STACKS, *NOT_DEPLOYED_STACKS):
        assert f"`{stack}`" in section, stack
