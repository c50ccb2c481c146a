"""cdk-nag (3.x) wiring: AwsSolutions checks on every stack, acknowledgements with reasons.

cdk-nag 3 plugs into CDK's policy-validation hook (``Validations.of(app).add_plugins``): any
finding that is not acknowledged fails ``cdk synth``/``cdk deploy`` and is listed in
``validation-report.json`` in the cloud assembly. Acknowledgements go through
:func:`acknowledge`, which insists on a specific reason so none can be added blank.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def attach_checks(app: App) -> None:
    """Run the AwsSolutions pack over the whole app at synth time.

    ``write_suppressions_to_cloud_formation`` copies every acknowledgement (rule id + reason) into
    the resource's ``Metadata.cdk_nag`` in the template, so reviewers see them next to the
    resource and the tests can check them.
    """
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True)
    )


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding on ``scope`` (and its children) with a reason."""
    if not rule_id.startswith("AwsSolutions-"):
        raise ValueError(f"not an AwsSolutions rule id: {rule_id!r}")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule_id} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason.strip()))
