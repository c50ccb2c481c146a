"""cdk-nag AwsSolutions on every stack: zero unacknowledged findings, every acknowledgement reasoned."""

from __future__ import annotations

import json

import pytest

from tests.cdk.cfn import ENVS
from users_api_infra.nag import MIN_REASON_LENGTH

pytestmark = pytest.mark.slow

# The rule families we acknowledge anywhere, and why they may appear at all. A new family needs a
# conscious edit here as well as a reason at the acknowledgement in code.
# Not here on purpose: EKS1/EKS2 (cdk-nag's EKS rules never run on aws_eks_v2 clusters; the
# cluster tests assert endpoint access and logging instead) and S1 (cdk-nag does not flag a
# bucket that is itself the access-log destination).
ALLOWED_RULES = {
    "AwsSolutions-IAM4": "AWS managed policies EKS Auto Mode / kubectl handler / CloudWatch add-on require",
    "AwsSolutions-IAM5": "avatars/* object prefix; CDK provider framework; dev bucket clean-up",
    "AwsSolutions-L1": "the kubectl handler runtime is chosen by aws-cdk-lib",
    "AwsSolutions-S10": "the avatars bucket's TLS-only policy lives in the avatar CDN stack",
    "AwsSolutions-CFR1": "avatars are served wherever the API is used: no geo restriction",
    "AwsSolutions-CFR2": "WAF in front of read-only immutable objects is the operators' choice",
    "AwsSolutions-CFR3": "standard logging needs ACLs, which every bucket here disables",
    "AwsSolutions-CFR4": "the default CloudFront certificate cannot raise its minimum TLS",
    # Written by aws-cdk-lib itself for its built-in CloudFormation validator (not by this app):
    "CloudFormation-Validate::W3010": "aws-cdk-lib: AZs read through stack.availabilityZones",
    "CloudFormation-Validate::F3002": "aws-cdk-lib: FlowLog DestinationOptions casing",
    "CloudFormation-Validate::F3003": "aws-cdk-lib: FlowLog DestinationOptions casing",
}


def acknowledgements(template: dict) -> list[tuple[str, str, str]]:
    found = []
    for logical_id, resource in template["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found.append((logical_id, rule["id"], rule.get("reason", "")))
    return found


@pytest.mark.parametrize("env", ENVS)
def test_no_unacknowledged_findings(cdk_synth, env):
    result = cdk_synth[env]
    assert result.validation_error is None, (
        f"cdk-nag / CloudFormation validation failed for {env}:\n{result.stderr[-8000:]}"
    )
    report = result.validation_report or {"pluginReports": []}
    violations = [
        (plugin["pluginName"], violation["ruleName"], violation["severity"])
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]
    assert violations == [], "warnings count as findings too"


@pytest.mark.parametrize("env", ENVS)
def test_every_acknowledgement_is_known_and_reasoned(cdk_templates, env):
    total = 0
    for role, template in cdk_templates[env].items():
        for logical_id, rule_id, reason in acknowledgements(template):
            total += 1
            family = rule_id.split("[", 1)[0]
            assert family in ALLOWED_RULES, f"{role}/{logical_id}: unexpected {rule_id}"
            minimum = MIN_REASON_LENGTH if family.startswith("AwsSolutions-") else 20
            assert len(reason) >= minimum, f"{role}/{logical_id}: {rule_id} reason too short"
    # The nag plugin ran (its acknowledgements reached the templates), so "no findings" means
    # something: the data stack always carries the avatars bucket's S10 acknowledgement.
    assert total > 0
    data_ids = {rule for _, rule, _ in acknowledgements(cdk_templates[env]["data"])}
    assert "AwsSolutions-S10" in data_ids


def test_the_avatars_bucket_tls_acknowledgement_is_true(cdk_templates):
    """S10 is acknowledged on the avatars bucket only because the CDN stack's policy denies
    plain HTTP for it; the CDN tests check that policy in detail."""
    for env in ENVS:
        cdn = cdk_templates[env]["avatars-cdn"]
        policies = [r for r in cdn["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
        assert len(policies) == 1
        assert '"aws:SecureTransport": "false"' in json.dumps(policies[0])


@pytest.mark.parametrize("env", ENVS)
def test_no_dead_acknowledgements(cdk_templates, env):
    """Acknowledgements of rules that cannot fire (EKS1 on aws_eks_v2, S1 on the log bucket)
    are gone: an acknowledgement is a claim that a finding exists."""
    for template in cdk_templates[env].values():
        ids = {rule.split("[", 1)[0] for _, rule, _ in acknowledgements(template)}
        assert not ids & {"AwsSolutions-EKS1", "AwsSolutions-EKS2", "AwsSolutions-S1"}


def test_kubectl_handler_ecr_reasons_say_what_aws_cdk_lib_does(cdk_templates):
    """The two ECR managed-policy acknowledgements on the kubectl handler: attached by
    aws-cdk-lib (ECR Public on the `aws` partition, not per region), unused by this app."""
    reasons = [
        reason for _, rule, reason in acknowledgements(cdk_templates["prod"]["cluster"])
        if "ContainerRegistry" in rule and "PullOnly" not in rule  # PullOnly: the node role
    ]
    reasons = sorted(set(reasons))
    assert len(reasons) == 2, reasons
    assert all("unused" in reason for reason in reasons)
    assert any("partition" in reason for reason in reasons)
    assert not any("regions where ECR Public exists" in reason for reason in reasons)


def test_app_data_resources_need_no_acknowledgement_beyond_the_avatars_prefix(cdk_templates):
    """The table and the roles pass AwsSolutions on their own; the avatars bucket only needs the
    S10 note that its TLS-only policy lives in the CDN stack; the policies only the prefix."""
    for env in ENVS:
        data = cdk_templates[env]["data"]
        for logical_id, rule_id, _ in acknowledgements(data):
            if logical_id.startswith("AvatarsBucket") and rule_id == "AwsSolutions-S10":
                continue
            if logical_id.startswith(("UsersTable", "AvatarsBucket", "AppRole", "SweepRole")):
                pytest.fail(f"{env}: {logical_id} acknowledges {rule_id}")
            if logical_id.startswith(("AppPolicy", "SweepPolicy")):
                assert rule_id.endswith("/avatars/*]"), rule_id


def test_unacknowledged_finding_fails_the_synth(tmp_path):
    """The wiring really fails a build: a plain bucket without TLS enforcement or access logs."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from users_api_infra.nag import attach_checks

    app = cdk.App(
        outdir=str(tmp_path),
        context={"aws:cdk:disable-asset-staging": True},
        builtin_cloud_formation_validation=False,  # only cdk-nag is under test here (and it is faster)
    )
    stack = cdk.Stack(app, "NagProbe")
    s3.Bucket(stack, "Probe")
    attach_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-S10" in report and "AwsSolutions-S1" in report


def test_acknowledge_refuses_blank_reasons():
    import aws_cdk as cdk

    from users_api_infra.nag import acknowledge

    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-S1", "n/a")
    with pytest.raises(ValueError, match="AwsSolutions"):
        acknowledge(stack, "S1", "a reason that is certainly long enough to pass the check")
