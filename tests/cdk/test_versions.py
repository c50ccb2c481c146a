"""The single version constant and the kubectl layer that follows it."""

from __future__ import annotations

import re

from users_api_infra import cluster_stack, versions


def test_kubernetes_version_constant():
    assert versions.KUBERNETES_VERSION == "1.35"
    assert (versions.NAMESPACE, versions.SERVICE_ACCOUNT) == ("users-api", "users-api")
    assert versions.SWEEP_SERVICE_ACCOUNT == "users-api-sweep"


def test_kubectl_layer_follows_the_one_version_constant():
    """One constant: the kubectl layer class is derived from KUBERNETES_VERSION, no second
    version string exists that could disagree with it."""
    minor = versions.KUBERNETES_VERSION.split(".")[1]
    layer = versions.kubectl_layer_class()
    assert layer.__name__ == f"KubectlV{minor}Layer"
    assert layer.__module__.startswith(f"aws_cdk.lambda_layer_kubectl_v{minor}")
    source = open(cluster_stack.__file__, encoding="utf-8").read()
    assert not re.search(r"KubectlV\d+Layer|lambda_layer_kubectl_v\d+|\b1\.\d\d\b", source)
    assert not hasattr(cluster_stack, "KUBECTL_LAYER_VERSION")


def test_a_version_without_its_kubectl_layer_fails_clearly(monkeypatch):
    import pytest

    monkeypatch.setattr(versions, "KUBERNETES_VERSION", "1.99")
    with pytest.raises(ImportError, match="aws-cdk.lambda-layer-kubectl-v99"):
        versions.kubectl_layer_class()


def test_cdk_json_has_the_recommended_feature_flags():
    import json
    from pathlib import Path

    cdk_json = json.loads((Path(cluster_stack.__file__).parents[1] / "cdk.json").read_text())
    context = cdk_json["context"]
    assert "env" not in context, "the environment is chosen per command (-c env=dev|prod)"
    for flag in (
        "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
        "@aws-cdk/aws-ec2:restrictDefaultSecurityGroup",
        "@aws-cdk/aws-iam:minimizePolicies",
        "@aws-cdk/core:validateAgainstDefaultRules",
    ):
        assert context[flag] is True, flag
    assert cdk_json["app"] == "python3 app.py"
