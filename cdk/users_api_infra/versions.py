"""Versions and names shared by the CDK app, the Helm chart tests and the deploy flow.

Change a value here and everything that imports it follows: the EKS cluster version, the kubectl
layer the CDK custom resources use, and the namespace/service account the Pod Identity
association binds the app role to (the Helm chart owns the ServiceAccount itself).
"""

# Kubernetes minor version of the EKS cluster (EKS standard support). The kubectl layer used by
# the CDK kubectl handler must match it (aws-cdk.lambda-layer-kubectl-v35 for 1.35).
KUBERNETES_VERSION = "1.35"

# Where the chart installs the app. CDK binds the app role to system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT
# through an EKS Pod Identity association and never creates the ServiceAccount.
NAMESPACE = "users-api"
SERVICE_ACCOUNT = "users-api"

# Helm release name and chart location (relative to the repository root).
HELM_RELEASE = "users-api"
CHART_PATH = "charts/users-api"

# ECR repository name for the image (one repository per AWS account and region).
IMAGE_REPOSITORY_NAME = "users-api"

# IngressClass the cluster stack creates for the EKS Auto Mode load balancer (controller
# eks.amazonaws.com/alb). It is marked as the cluster's default class.
INGRESS_CLASS_NAME = "alb"

# S3 key prefix the app writes avatars under; the app role's S3 permissions are scoped to it.
AVATARS_PREFIX = "avatars/"
