"""cdk-nag AwsSolutions on every stack: zero unacknowledged findings, every acknowledgement reasoned."""

from __future__ import annotations

import pytest

from tests.cdk.cfn import ENVS
from users_api_infra.nag import MIN_REASON_LENGTH

pytestmark = pytest.mark.slow

# The rule families we acknowledge anywhere, and why they may appear at all. A new family needs a
# conscious edit here as well as a reason at the acknowledgement in code.
ALLOWED_RULES = {
    "AwsSolutions-S1": "the access-log bucket itself has no access logs (it is the destination)",
    "AwsSolutions-IAM4": "AWS managed policies EKS Auto Mode / the CDK kubectl handler require",
    "AwsSolutions-IAM5": "avatars/* object prefix; CDK provider framework invoking its handler",
    "AwsSolutions-L1": "the kubectl handler runtime is chosen by aws-cdk-lib",
    "AwsSolutions-EKS1": "dev only: public API endpoint (IAM-authenticated) for laptop deploys",
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
            if family == "AwsSolutions-EKS1":
                assert env == "dev", "prod keeps the Kubernetes API endpoint private"
    # The nag plugin ran (its acknowledgements reached the templates), so "no findings" means
    # something: the data stack always carries the access-log bucket's S1 acknowledgement.
    assert total > 0
    data_ids = {rule for _, rule, _ in acknowledgements(cdk_templates[env]["data"])}
    assert "AwsSolutions-S1" in data_ids


def test_app_data_resources_need_no_acknowledgement_beyond_the_avatars_prefix(cdk_templates):
    """The table, the avatars bucket and the app role pass AwsSolutions on their own."""
    for env in ENVS:
        data = cdk_templates[env]["data"]
        for logical_id, rule_id, _ in acknowledgements(data):
            if logical_id.startswith(("UsersTable", "AvatarsBucket", "AppRole")):
                pytest.fail(f"{env}: {logical_id} acknowledges {rule_id}")
            if logical_id.startswith("AppPolicy"):
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
