"""Versions and names shared by the CDK app, the Helm chart tests and the deploy flow.

Change a value here and everything that imports it follows: the EKS cluster version and the
kubectl layer the CDK custom resources use (both derived from KUBERNETES_VERSION), and the
namespace/service accounts the Pod Identity associations bind the roles to (the Helm chart owns
the ServiceAccounts themselves).
"""

from __future__ import annotations

import importlib

# Kubernetes minor version of the EKS cluster (EKS standard support). The one version constant:
# the kubectl layer of the CDK kubectl handler follows it (kubectl_layer_class below), and the
# chart tests validate manifests against it.
KUBERNETES_VERSION = "1.35"

# Where the chart installs the app. CDK binds the app role to system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT
# through an EKS Pod Identity association and never creates the ServiceAccount.
NAMESPACE = "users-api"
# The chart's fullname for the release below ("users-api"): the app's ServiceAccount.
SERVICE_ACCOUNT = "users-api"
# The orphan sweep CronJob's own ServiceAccount, "<fullname>-sweep", which the chart creates.
SWEEP_SERVICE_ACCOUNT = f"{SERVICE_ACCOUNT}-sweep"

# Helm release name and chart location (relative to the repository root).
HELM_RELEASE = "users-api"
CHART_PATH = "charts/users-api"

# ECR repository names are "<prefix>-<env>" (users-api-dev, users-api-prod): one repository per
# environment, so dev and prod never collide in one account and region.
IMAGE_REPOSITORY_PREFIX = "users-api"

# IngressClass the cluster stack creates for the EKS Auto Mode load balancer (controller
# eks.amazonaws.com/alb). It is marked as the cluster's default class.
INGRESS_CLASS_NAME = "alb"

# S3 key prefix the app writes avatars under; the roles' S3 permissions are scoped to it, and
# the avatar CDN serves only it.
AVATARS_PREFIX = "avatars/"


def kubernetes_minor() -> str:
    major, minor = KUBERNETES_VERSION.split(".")
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {KUBERNETES_VERSION!r}")
    return minor


def kubectl_layer_class():
    """The aws-cdk kubectl layer construct matching KUBERNETES_VERSION (kubectl skew policy).

    ``aws-cdk.lambda-layer-kubectl-v1N`` must be installed for minor N: bumping the version
    constant without the matching package fails here, at synth, with the package to add.
    """
    minor = kubernetes_minor()
    module_name = f"aws_cdk.lambda_layer_kubectl_v{minor}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"Kubernetes {KUBERNETES_VERSION} needs the PyPI package "
            f"aws-cdk.lambda-layer-kubectl-v{minor} (module {module_name})"
        ) from error
    return getattr(module, f"KubectlV{minor}Layer")
