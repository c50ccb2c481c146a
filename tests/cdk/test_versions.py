"""The single version constant and the kubectl layer that must follow it."""

from __future__ import annotations

import importlib
import re

from users_api_infra import cluster_stack, versions


def test_kubernetes_version_constant():
    assert versions.KUBERNETES_VERSION == "1.35"
    assert (versions.NAMESPACE, versions.SERVICE_ACCOUNT) == ("users-api", "users-api")


def test_kubectl_layer_matches_the_cluster_version():
    minor = versions.KUBERNETES_VERSION.split(".")[1]
    module = importlib.import_module(f"aws_cdk.lambda_layer_kubectl_v{minor}")
    assert hasattr(module, f"KubectlV{minor}Layer")
    assert cluster_stack.KUBECTL_LAYER_VERSION == versions.KUBERNETES_VERSION
    source = open(cluster_stack.__file__, encoding="utf-8").read()
    assert re.search(rf"\bKubectlV{minor}Layer\b", source)


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
