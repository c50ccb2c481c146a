"""Cluster stack: VPC, EKS (Auto Mode) cluster, add-ons, ingress class and the app's Pod Identity.

Choices (explained in cdk/README.md):
* ``aws_eks_v2`` cluster with EKS Auto Mode. Auto Mode brings the load balancer controller
  (``eks.amazonaws.com/alb``), the EKS Pod Identity agent, VPC CNI, CoreDNS, kube-proxy and node
  autoscaling as AWS-operated components; nodes are patched by replacement. The built-in
  ``general-purpose`` pool is replaced by a ``users-api`` NodePool with CPU/memory limits
  (sized per environment) and amd64-only instances (the image is built for amd64).
* metrics-server (for the HPA) is the EKS community add-on.
* NetworkPolicy is enforced: the ``amazon-vpc-cni`` ConfigMap in kube-system switches on Auto
  Mode's network-policy controller, and the ``users-api`` NodeClass (used by the NodePool the app
  runs in) has ``networkPolicy: DefaultAllow``, so nodes enforce the chart's policies.
* Logs outlive nodes: the Amazon CloudWatch Observability add-on (Pod Identity) ships pod and
  node logs to CloudWatch Logs, into log groups created here with a retention.
* Endpoint access: the private endpoint is always on (nodes, the CDK kubectl handler). The public
  one is limited to ``apiAllowedCidrs`` when given; otherwise ``public_api_endpoint`` decides:
  open in dev (IAM auth still applies), off in prod (private-only).
* The app's and the sweep's ServiceAccounts are created by the Helm chart. This stack only
  associates them with the data stack's roles (EKS Pod Identity) -- it never creates them.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, CfnCondition, CfnOutput, Fn, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from users_api_infra.nag import acknowledge
from users_api_infra.settings import EnvSettings
from users_api_infra.versions import (
    INGRESS_CLASS_NAME,
    KUBERNETES_VERSION,
    NAMESPACE,
    SERVICE_ACCOUNT,
    SWEEP_SERVICE_ACCOUNT,
    kubectl_layer_class,
)

NODE_POOL_NAME = "users-api"
# The NodeClass of the users-api NodePool: the built-in "default" one plus network policy.
NODE_CLASS_NAME = "users-api"

# Amazon CloudWatch Observability add-on: its agents (CloudWatch agent, Fluent Bit) run as this
# service account and get their permissions through the add-on's own Pod Identity association.
OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"
OBSERVABILITY_NAMESPACE = "amazon-cloudwatch"
OBSERVABILITY_SERVICE_ACCOUNT = "cloudwatch-agent"
OBSERVABILITY_MANAGED_POLICIES = ("CloudWatchAgentServerPolicy",)
# The log groups Container Insights writes to; created here first so they have a retention
# (the agents would otherwise create them with "never expire").
CONTAINER_LOG_GROUPS = ("application", "dataplane", "host", "performance")

# AWS managed policies EKS Auto Mode requires on the cluster role (attached by aws_eks_v2).
CLUSTER_MANAGED_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)
NODE_MANAGED_POLICIES = (
    "AmazonEKSWorkerNodeMinimalPolicy",
    "AmazonEC2ContainerRegistryPullOnly",
)
VPC_CIDR = "10.40.0.0/16"


class ClusterStack(Stack):
    """VPC + EKS Auto Mode cluster for users-api."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvSettings,
        app_role: iam.IRole,
        sweep_role: iam.IRole,
        **kwargs,
    ):
        self.settings = settings
        super().__init__(scope, construct_id, **kwargs)

        self.vpc = self._vpc(settings)
        self.cluster = self._cluster(settings)
        self._platform_manifests(settings)
        self._observability(settings)
        self._pod_identities(app_role, sweep_role)
        if settings.admin_principal_arn:
            self.cluster.grant_access(
                "AdminAccess",
                settings.admin_principal_arn,
                [
                    eks.AccessPolicy.from_access_policy_name(
                        "AmazonEKSClusterAdminPolicy",
                        access_scope_type=eks.AccessScopeType.CLUSTER,
                    )
                ],
            )
        self._acknowledgements(settings)

        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name,
                  description="EKS cluster name")
        CfnOutput(self, "KubeconfigCommand",
                  value=f"aws eks update-kubeconfig --name {settings.cluster_name} "
                        f"--region {Aws.REGION}",
                  description="Configure kubectl/helm for this cluster")
        CfnOutput(self, "IngressClassName", value=INGRESS_CLASS_NAME,
                  description="IngressClass served by the EKS Auto Mode load balancer")

    # ------------------------------------------------------------------------------------ VPC
    @property
    def availability_zones(self) -> list[str]:
        """The AZs this stack uses, without a context lookup.

        An environment-agnostic stack would report only two AZs, and an environment-specific one
        would look them up (credentials needed, account data in cdk.context.json). Instead:
        the AZs pinned with ``-c availabilityZones=...``, or the region's first N AZs resolved by
        CloudFormation at deploy time (Fn::GetAZs). Every construct that asks the stack for its
        AZs (the VPC included) gets this list.
        """
        settings = self.settings
        return list(settings.availability_zones) or [
            Fn.select(index, Fn.get_azs()) for index in range(settings.az_count)
        ]

    def _vpc(self, settings: EnvSettings) -> ec2.Vpc:
        azs = self.availability_zones
        flow_log_group = logs.LogGroup(
            self,
            "VpcFlowLogs",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            availability_zones=azs,
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public",  # load balancers and NAT gateways only
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="private",  # nodes, pods (VPC CNI) and the kubectl handler
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=19,
                ),
            ],
            # Gateway endpoints are free and keep DynamoDB/S3 traffic off the NAT gateways.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.S3
                ),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
            restrict_default_security_group=True,
        )
        # Subnet discovery for the Auto Mode load balancer controller.
        for subnet in vpc.public_subnets:
            Tags.of(subnet).add("kubernetes.io/role/elb", "1")
        for subnet in vpc.private_subnets:
            Tags.of(subnet).add("kubernetes.io/role/internal-elb", "1")
        return vpc

    # -------------------------------------------------------------------------------- cluster
    def _node_role(self) -> iam.Role:
        # The role EKS Auto Mode nodes run with. The two AWS managed policies are the minimal
        # ones AWS documents for Auto Mode nodes (instead of the broader AmazonEKSWorkerNodePolicy
        # and AmazonEC2ContainerRegistryReadOnly that CDK would attach by default).
        self.node_role = iam.Role(
            self,
            "NodeRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="EKS Auto Mode nodes",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in NODE_MANAGED_POLICIES
            ],
        )
        return self.node_role

    def _endpoint_access(self, settings: EnvSettings) -> eks.EndpointAccess:
        cidrs = public_endpoint_cidrs(settings)
        if cidrs is None:
            return eks.EndpointAccess.PRIVATE  # prod without an allow-list: no public endpoint
        if cidrs == OPEN_TO_THE_INTERNET:
            return eks.EndpointAccess.PUBLIC_AND_PRIVATE
        return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs)

    def _cluster(self, settings: EnvSettings) -> eks.Cluster:
        # Pre-create the control-plane log group so it has a retention (EKS would create it
        # with "never expire") and goes away with the stack in dev. Its name is fixed by EKS:
        # prod keeps it with RETAIN_ON_UPDATE_OR_DELETE, so a failed first create removes it
        # and the next deploy does not stop at "already exists".
        control_plane_logs = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=f"/aws/eks/{settings.cluster_name}/cluster",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=settings.cluster_name,
            version=eks.KubernetesVersion.of(KUBERNETES_VERSION),
            vpc=self.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            default_capacity_type=eks.DefaultCapacityType.AUTOMODE,
            # Keep the built-in "system" pool (critical add-ons); general workloads go to the
            # sized "users-api" NodePool below instead of the unbounded general-purpose pool.
            compute=eks.ComputeConfig(node_pools=["system"], node_role=self._node_role()),
            cluster_logging=[
                eks.ClusterLoggingTypes.API,
                eks.ClusterLoggingTypes.AUDIT,
                eks.ClusterLoggingTypes.AUTHENTICATOR,
                eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
                eks.ClusterLoggingTypes.SCHEDULER,
            ],
            endpoint_access=self._endpoint_access(settings),
            # The kubectl handler (a Lambda custom resource) applies the platform manifests
            # below. It runs in the private subnets and talks to the private endpoint.
            kubectl_provider_options=eks.KubectlProviderOptions(
                kubectl_layer=kubectl_layer_class()(self, "KubectlLayer"),
                private_subnets=self.vpc.private_subnets,
            ),
            output_config_command=False,
        )
        cluster.node.add_dependency(control_plane_logs)
        return cluster

    # ------------------------------------------------------------------- in-cluster platform
    def _platform_manifests(self, settings: EnvSettings) -> None:
        cluster = self.cluster
        # NetworkPolicy enforcement, the two documented steps for EKS Auto Mode: (1) switch on
        # the network-policy controller with the amazon-vpc-cni ConfigMap in kube-system; (2) a
        # NodeClass with networkPolicy set, for the nodes the app runs on. Without both, the
        # chart's NetworkPolicy objects are accepted but do nothing. DefaultAllow: pods that no
        # policy selects keep working; the chart's policy selects the app's pods.
        network_policy = cluster.add_manifest(
            "NetworkPolicyController",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"},
                "data": {"enable-network-policy-controller": "true"},
            },
        )
        node_class = cluster.add_manifest(
            "NodeClass",
            {
                "apiVersion": "eks.amazonaws.com/v1",
                "kind": "NodeClass",
                "metadata": {"name": NODE_CLASS_NAME},
                "spec": {
                    # What the built-in "default" NodeClass uses: the cluster's node role (it
                    # already has its EC2 access entry), the private subnets and the cluster
                    # security group.
                    "role": self.node_role.role_name,
                    "subnetSelectorTerms": [
                        {"id": subnet.subnet_id} for subnet in self.vpc.private_subnets
                    ],
                    "securityGroupSelectorTerms": [{"id": cluster.cluster_security_group_id}],
                    "networkPolicy": "DefaultAllow",
                    "networkPolicyEventLogs": "Disabled",
                },
            },
        )
        node_class.node.add_dependency(network_policy)
        node_pool = cluster.add_manifest(
            "NodePool",
            {
                "apiVersion": "karpenter.sh/v1",
                "kind": "NodePool",
                "metadata": {"name": NODE_POOL_NAME},
                "spec": {
                    "template": {
                        "spec": {
                            "nodeClassRef": {
                                "group": "eks.amazonaws.com",
                                "kind": "NodeClass",
                                "name": NODE_CLASS_NAME,
                            },
                            "requirements": [
                                {"key": "karpenter.sh/capacity-type", "operator": "In",
                                 "values": ["on-demand"]},
                                {"key": "eks.amazonaws.com/instance-category", "operator": "In",
                                 "values": ["c", "m", "r"]},
                                {"key": "eks.amazonaws.com/instance-generation",
                                 "operator": "Gt", "values": ["4"]},
                                {"key": "kubernetes.io/arch", "operator": "In",
                                 "values": ["amd64"]},
                                {"key": "kubernetes.io/os", "operator": "In",
                                 "values": ["linux"]},
                            ],
                            # Nodes are replaced (and so patched) at least every two weeks.
                            "expireAfter": "336h",
                        }
                    },
                    # The size cap: Auto Mode never provisions more than this in total.
                    "limits": {
                        "cpu": str(settings.node_cpu_limit),
                        "memory": f"{settings.node_memory_limit_gi}Gi",
                    },
                    "disruption": {
                        "consolidationPolicy": "WhenEmptyOrUnderutilized",
                        "consolidateAfter": "1m",
                        "budgets": [{"nodes": "10%"}],
                    },
                },
            },
        )

        params_spec: dict[str, object] = {"scheme": "internet-facing"}
        if settings.certificate_arn:
            params_spec["certificateARNs"] = [settings.certificate_arn]
        cluster.add_manifest(
            "IngressClass",
            {
                "apiVersion": "eks.amazonaws.com/v1",
                "kind": "IngressClassParams",
                "metadata": {"name": INGRESS_CLASS_NAME},
                "spec": params_spec,
            },
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {
                    "name": INGRESS_CLASS_NAME,
                    "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
                },
                "spec": {
                    "controller": "eks.amazonaws.com/alb",
                    "parameters": {
                        "apiGroup": "eks.amazonaws.com",
                        "kind": "IngressClassParams",
                        "name": INGRESS_CLASS_NAME,
                    },
                },
            },
        )

        # The app namespace, with Pod Security Admission "restricted" enforced. The chart
        # installs into it (helm --create-namespace is then a no-op) and owns everything inside,
        # including the ServiceAccount.
        cluster.add_manifest(
            "AppNamespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/audit": "restricted",
                        "pod-security.kubernetes.io/warn": "restricted",
                    },
                },
            },
        )

        # Resource metrics for the HorizontalPodAutoscaler. Its pods need a node, so it waits
        # for the NodePool.
        metrics_server = eks.Addon(
            self,
            "MetricsServer",
            cluster=cluster,
            addon_name="metrics-server",
        )
        metrics_server.node.add_dependency(node_pool)
        node_pool.node.add_dependency(node_class)
        self.node_pool = node_pool

    # ------------------------------------------------------------------ logs outlive nodes
    def _observability(self, settings: EnvSettings) -> None:
        """CloudWatch Observability add-on: pod (and node) logs to CloudWatch Logs.

        Auto Mode replaces nodes at least every 14 days and consolidates idle ones within
        minutes, so logs kept only on a node vanish. The add-on's Fluent Bit ships container
        logs to /aws/containerinsights/<cluster>/application; the log groups are created here
        first, with a retention, and the add-on waits for them.
        """
        cluster = self.cluster
        log_groups = [
            logs.LogGroup(
                self,
                f"ContainerLogs{kind.capitalize()}",
                log_group_name=f"/aws/containerinsights/{settings.cluster_name}/{kind}",
                retention=settings.container_log_retention,
                # Named by the add-on: prod keeps them (RETAIN_ON_UPDATE_OR_DELETE, so a failed
                # first create removes them); dev deletes them with the stack.
                removal_policy=settings.removal_policy,
            )
            for kind in CONTAINER_LOG_GROUPS
        ]
        self.observability_role = iam.Role(
            self,
            "ObservabilityRole",
            assumed_by=self._pod_identity_principal(),
            description=(
                f"{OBSERVABILITY_ADDON} add-on agents in {settings.cluster_name} "
                f"(system:serviceaccount:{OBSERVABILITY_NAMESPACE}:{OBSERVABILITY_SERVICE_ACCOUNT})"
            ),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in OBSERVABILITY_MANAGED_POLICIES
            ],
        )
        self.observability_addon = eks.CfnAddon(
            self,
            "CloudWatchObservability",
            addon_name=OBSERVABILITY_ADDON,
            cluster_name=cluster.cluster_name,
            pod_identity_associations=[
                eks.CfnAddon.PodIdentityAssociationProperty(
                    role_arn=self.observability_role.role_arn,
                    service_account=OBSERVABILITY_SERVICE_ACCOUNT,
                )
            ],
            resolve_conflicts="OVERWRITE",
        )
        for log_group in log_groups:
            self.observability_addon.node.add_dependency(log_group)
        # Its agents need nodes to run on, and the policy role must exist first.
        self.observability_addon.node.add_dependency(self.node_pool)
        self.container_log_groups = log_groups

    def _pod_identity_principal(self) -> iam.IPrincipal:
        """EKS Pod Identity for this cluster only (this account, this cluster's ARN)."""
        return iam.SessionTagsPrincipal(
            iam.ServicePrincipal("pods.eks.amazonaws.com")
        ).with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnEquals": {"aws:SourceArn": self.cluster.cluster_arn},
            }
        )

    # ----------------------------------------------------------------------- app identity
    def _pod_identities(self, app_role: iam.IRole, sweep_role: iam.IRole) -> None:
        # EKS Pod Identity: pods using ServiceAccount users-api/users-api get the app role's
        # credentials from the (Auto Mode built-in) Pod Identity agent; the sweep CronJob's
        # ServiceAccount users-api/users-api-sweep gets the sweep role. No OIDC provider, no
        # role-arn annotation, no static keys.
        self.app_identity = eks.CfnPodIdentityAssociation(
            self,
            "AppPodIdentity",
            cluster_name=self.cluster.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=app_role.role_arn,
        )
        self.sweep_identity = eks.CfnPodIdentityAssociation(
            self,
            "SweepPodIdentity",
            cluster_name=self.cluster.cluster_name,
            namespace=NAMESPACE,
            service_account=SWEEP_SERVICE_ACCOUNT,
            role_arn=sweep_role.role_arn,
        )

    # -------------------------------------------------------------------- cdk-nag findings
    def _acknowledgements(self, settings: EnvSettings) -> None:
        """Every AwsSolutions finding left in this stack, each with the reason it stays.

        cdk-nag's EKS rules (EKS1 public endpoint, EKS2 control-plane logging) match only the
        aws_eks ``CfnCluster`` and never run on this aws_eks_v2 cluster; tests/cdk asserts both
        properties on the template instead (test_cluster_stack.py, "checks cdk-nag skips").
        """
        for name in CLUSTER_MANAGED_POLICIES:
            acknowledge(
                self.cluster.role,
                _managed_policy_finding(name),
                f"{name} is one of the AWS managed policies EKS Auto Mode requires on the "
                "cluster role; AWS maintains it as the service's API needs change.",
            )
        for name in NODE_MANAGED_POLICIES:
            acknowledge(
                self.node_role,
                _managed_policy_finding(name),
                f"{name} is the minimal AWS managed policy documented for EKS Auto Mode node "
                "roles (node registration / image pulls); a copy would drift from AWS updates.",
            )

        # The kubectl handler: an aws-cdk-lib Lambda custom resource (plus its provider
        # framework) that applies the NodePool/IngressClass/Namespace manifests at deploy time.
        kubectl = self.cluster.node.find_child("KubectlProvider")
        handler = kubectl.node.find_child("Handler")
        handler_logical_id = self.resolve(handler.node.default_child.logical_id)
        ecr_public_condition = next(
            self.resolve(child.logical_id)
            for child in kubectl.node.find_all()
            if isinstance(child, CfnCondition)
        )
        lambda_policies = {
            "service-role/AWSLambdaBasicExecutionRole": "writes the handler's CloudWatch logs",
            "service-role/AWSLambdaVPCAccessExecutionRole": (
                "manages the ENIs the handler needs to reach the private cluster endpoint"
            ),
            "AmazonEC2ContainerRegistryReadOnly": (
                "is attached unconditionally by aws-cdk-lib for Helm charts pulled from ECR as "
                "OCI artifacts; this app installs no chart through the handler, so it goes unused"
            ),
        }
        for name, why in lambda_policies.items():
            acknowledge(
                kubectl,
                _managed_policy_finding(name),
                f"aws-cdk-lib kubectl provider (CDK-internal custom resource): {name} {why}.",
            )
        ecr_public = {
            "Fn::If": [
                ecr_public_condition,
                {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly",
                        ],
                    ]
                },
                {"Ref": "AWS::NoValue"},
            ]
        }
        acknowledge(
            kubectl,
            "AwsSolutions-IAM4[Policy::" + json.dumps(ecr_public, separators=(",", ":")) + "]",
            "aws-cdk-lib kubectl provider (CDK-internal): the ECR Public read-only policy is "
            "attached whenever the partition is aws (Fn::If on AWS::Partition), for Helm charts "
            "from public ECR; this app installs no chart through the handler, so it goes unused.",
        )
        acknowledge(
            kubectl,
            f"AwsSolutions-IAM5[Resource::<{handler_logical_id}.Arn>:*]",
            "CDK custom-resource provider framework: it may invoke any version/alias of the one "
            "kubectl handler function it fronts; the wildcard covers only that function's ARN.",
        )
        for name in OBSERVABILITY_MANAGED_POLICIES:
            acknowledge(
                self.observability_role,
                _managed_policy_finding(name),
                f"{name} is the policy AWS documents for the {OBSERVABILITY_ADDON} add-on's "
                "agents (metrics and log delivery to CloudWatch); AWS keeps it current.",
            )
        acknowledge(
            handler,
            "AwsSolutions-L1",
            "The kubectl handler's runtime is chosen by aws-cdk-lib (latest Python it supports "
            "with the kubectl/awscli layers); it moves forward with aws-cdk-lib upgrades.",
        )


OPEN_TO_THE_INTERNET = ("0.0.0.0/0",)


def public_endpoint_cidrs(settings: EnvSettings) -> tuple[str, ...] | None:
    """Who may reach the public Kubernetes API endpoint; None: there is no public endpoint.

    The private endpoint is always on. ``apiAllowedCidrs`` opens the public one to exactly those
    CIDRs in any environment; without it, ``public_api_endpoint`` decides (dev: open, every call
    still needs IAM authentication and an access entry; prod: private only).
    """
    if settings.api_allowed_cidrs:
        return settings.api_allowed_cidrs
    return OPEN_TO_THE_INTERNET if settings.public_api_endpoint else None


def _managed_policy_finding(name: str) -> str:
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"
