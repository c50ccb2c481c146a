"""Cluster stack: VPC, EKS Auto Mode cluster (version, logging, endpoint), add-ons, Pod Identity."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from tests.cdk.cfn import ENVS, manifest, manifests, of_type, one, props
from users_api_infra.versions import (
    INGRESS_CLASS_NAME,
    KUBERNETES_VERSION,
    NAMESPACE,
    SERVICE_ACCOUNT,
)

pytestmark = pytest.mark.slow

AZS = {"dev": 2, "prod": 3}
NATS = {"dev": 1, "prod": 3}


@pytest.fixture(params=ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture
def cluster_template(cdk_templates, env) -> dict:
    return cdk_templates[env]["cluster"]


def eks_cluster(template: dict) -> dict:
    return props(one(template, "AWS::EKS::Cluster")[1])


# ------------------------------------------------------------------------------------- VPC
def test_vpc_spans_explicit_azs_with_private_subnets_and_nat(cluster_template, env):
    subnets = of_type(cluster_template, "AWS::EC2::Subnet")
    private = {k: v for k, v in subnets.items() if k.startswith("Vpcprivate")}
    public = {k: v for k, v in subnets.items() if k.startswith("Vpcpublic")}
    assert len(private) == len(public) == AZS[env]
    # Env-agnostic synth, yet the AZ count is explicit: Fn::GetAZs picks them at deploy time.
    azs = sorted(repr(props(s)["AvailabilityZone"]) for s in private.values())
    assert azs == sorted(repr({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in range(AZS[env]))
    assert len(of_type(cluster_template, "AWS::EC2::NatGateway")) == NATS[env]
    for subnet in public.values():
        assert props(subnet)["MapPublicIpOnLaunch"] is False
        assert {"Key": "kubernetes.io/role/elb", "Value": "1"} in props(subnet)["Tags"]
    for subnet in private.values():
        assert {"Key": "kubernetes.io/role/internal-elb", "Value": "1"} in props(subnet)["Tags"]


def test_vpc_gateway_endpoints_for_s3_and_dynamodb(cluster_template):
    endpoints = of_type(cluster_template, "AWS::EC2::VPCEndpoint")
    services = set()
    for endpoint in endpoints.values():
        assert props(endpoint)["VpcEndpointType"] == "Gateway"
        services.add(props(endpoint)["ServiceName"]["Fn::Join"][1][-1])
    assert services == {".s3", ".dynamodb"}


def test_vpc_flow_logs(cdk_assertions, env):
    cdk_assertions[env]["cluster"].has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )


# --------------------------------------------------------------------------------- cluster
def test_cluster_version_comes_from_versions_py(cluster_template):
    assert KUBERNETES_VERSION == "1.35"
    assert eks_cluster(cluster_template)["Version"] == KUBERNETES_VERSION


def test_cluster_control_plane_logging_all_types_with_retention(cdk_assertions, env):
    template = cdk_assertions[env]["cluster"]
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "Logging": {
                "ClusterLogging": {
                    "EnabledTypes": [
                        {"Type": "api"},
                        {"Type": "audit"},
                        {"Type": "authenticator"},
                        {"Type": "controllerManager"},
                        {"Type": "scheduler"},
                    ]
                }
            }
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": f"/aws/eks/users-api-{env}/cluster",
            "RetentionInDays": 365 if env == "prod" else 30,
        },
    )


def test_cluster_auto_mode_with_api_auth_and_private_subnets(cdk_assertions, env):
    cdk_assertions[env]["cluster"].has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "Name": f"users-api-{env}",
            "AccessConfig": {"AuthenticationMode": "API"},
            "ComputeConfig": {"Enabled": True, "NodePools": ["system"], "NodeRoleArn": Match.any_value()},
            "KubernetesNetworkConfig": Match.object_like({"ElasticLoadBalancing": {"Enabled": True}}),
            "StorageConfig": {"BlockStorage": {"Enabled": True}},
            "ResourcesVpcConfig": Match.object_like(
                {"SubnetIds": Match.array_with([{"Ref": Match.string_like_regexp("^Vpcprivate")}])}
            ),
        },
    )


@pytest.mark.parametrize(("env_name", "public"), [("dev", True), ("prod", False)])
def test_endpoint_access_mode(cdk_templates, env_name, public):
    vpc_config = eks_cluster(cdk_templates[env_name]["cluster"])["ResourcesVpcConfig"]
    # Private endpoint always on (nodes, kubectl handler); public only in dev by default.
    assert vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["EndpointPublicAccess"] is public


def test_node_role_uses_the_minimal_auto_mode_policies(cluster_template):
    node_role_ref = eks_cluster(cluster_template)["ComputeConfig"]["NodeRoleArn"]["Fn::GetAtt"][0]
    role = props(cluster_template["Resources"][node_role_ref])
    names = sorted(arn["Fn::Join"][1][-1].rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"])
    assert names == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodeMinimalPolicy"]


# ----------------------------------------------------------------------- add-ons, platform
def test_metrics_server_addon_after_the_node_pool(cluster_template):
    addon_id, addon = one(cluster_template, "AWS::EKS::Addon")
    assert props(addon)["AddonName"] == "metrics-server"
    node_pool_id = next(k for k in cluster_template["Resources"] if k.startswith("ClustermanifestNodePool"))
    assert node_pool_id in addon.get("DependsOn", [])


def test_pod_identity_agent_is_auto_mode_builtin_not_an_addon(cluster_template):
    names = [props(a)["AddonName"] for a in of_type(cluster_template, "AWS::EKS::Addon").values()]
    # EKS Auto Mode ships the Pod Identity agent (and the load balancer controller) built in;
    # installing the eks-pod-identity-agent add-on there is unnecessary.
    assert "eks-pod-identity-agent" not in names
    assert eks_cluster(cluster_template)["ComputeConfig"]["Enabled"] is True


def test_node_pool_is_sized_and_amd64(cluster_template, env):
    pool = manifest(cluster_template, "NodePool", "users-api")
    assert pool["apiVersion"] == "karpenter.sh/v1"
    assert pool["spec"]["limits"] == (
        {"cpu": "32", "memory": "128Gi"} if env == "prod" else {"cpu": "8", "memory": "32Gi"}
    )
    requirements = {r["key"]: r for r in pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["kubernetes.io/arch"]["values"] == ["amd64"]
    assert requirements["karpenter.sh/capacity-type"]["values"] == ["on-demand"]
    assert pool["spec"]["template"]["spec"]["nodeClassRef"]["group"] == "eks.amazonaws.com"


def test_ingress_class_for_the_auto_mode_load_balancer(cluster_template):
    ingress_class = manifest(cluster_template, "IngressClass", INGRESS_CLASS_NAME)
    assert ingress_class["spec"]["controller"] == "eks.amazonaws.com/alb"
    assert ingress_class["spec"]["parameters"]["kind"] == "IngressClassParams"
    params = manifest(cluster_template, "IngressClassParams", INGRESS_CLASS_NAME)
    assert params["spec"]["scheme"] == "internet-facing"


def test_app_namespace_enforces_restricted_pod_security(cluster_template):
    namespace = manifest(cluster_template, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# ------------------------------------------------------------------------------ identity
def test_pod_identity_association_binds_the_data_stack_role(cluster_template, env):
    _, association = one(cluster_template, "AWS::EKS::PodIdentityAssociation")
    p = props(association)
    assert p["Namespace"] == NAMESPACE == "users-api"
    assert p["ServiceAccount"] == SERVICE_ACCOUNT == "users-api"
    assert p["ClusterName"] == {"Ref": one(cluster_template, "AWS::EKS::Cluster")[0]}
    role_ref = repr(p["RoleArn"])
    assert f"users-api-{env}-data" in role_ref and "AppRole" in role_ref


def test_cdk_never_creates_the_service_account_nor_irsa(cluster_template):
    kinds = {m["kind"] for m in manifests(cluster_template)}
    assert "ServiceAccount" not in kinds, "the Helm chart owns the ServiceAccount"
    assert kinds == {"NodePool", "IngressClassParams", "IngressClass", "Namespace"}
    assert not of_type(cluster_template, "AWS::IAM::OIDCProvider")
    assert not of_type(cluster_template, "Custom::AWSCDKOpenIdConnectProvider")


def test_cluster_outputs(cluster_template, env):
    outputs = cluster_template["Outputs"]
    assert outputs["ClusterName"]["Value"] == {"Ref": one(cluster_template, "AWS::EKS::Cluster")[0]}
    assert outputs["IngressClassName"]["Value"] == INGRESS_CLASS_NAME
    assert f"update-kubeconfig --name users-api-{env}" in repr(outputs["KubeconfigCommand"]["Value"])


def test_prod_stacks_have_termination_protection(cdk_synth):
    for env_name, expected in (("prod", True), ("dev", False)):
        manifest_json = json.loads((cdk_synth[env_name].outdir / "manifest.json").read_text())
        for stack in cdk_synth[env_name].stack_names.values():
            artifact = manifest_json["artifacts"][stack]
            assert artifact["environment"] == "aws://unknown-account/unknown-region"
            assert artifact["properties"].get("terminationProtection", False) is expected


def test_environment_specific_synth_needs_no_lookup(tmp_path):
    """With CDK_DEFAULT_ACCOUNT/REGION set (as the CLI does on deploy) nothing is looked up
    either: no credentials, no account data in cdk.context.json. A fast synth of the two stacks
    that could look something up (no nag, no built-in validation: those run in the session synth)."""
    import aws_cdk as cdk

    from users_api_infra.cluster_stack import ClusterStack
    from users_api_infra.data_stack import DataStack
    from users_api_infra.settings import settings_for
    from users_api_infra.synth import cdk_json_context

    app = cdk.App(
        outdir=str(tmp_path),
        context={**cdk_json_context(), "aws:cdk:disable-asset-staging": True},
        builtin_cloud_formation_validation=False,
    )
    env = cdk.Environment(account="123456789012", region="eu-west-1")
    settings = settings_for("prod")
    data = DataStack(app, "data", settings=settings, env=env)
    cluster = ClusterStack(app, "cluster", settings=settings, app_role=data.app_role, env=env)
    app.synth()
    manifest_json = json.loads((tmp_path / "manifest.json").read_text())
    assert "missing" not in manifest_json, manifest_json.get("missing")
    assert manifest_json["artifacts"]["cluster"]["environment"] == "aws://123456789012/eu-west-1"
    assert len(cluster.vpc.private_subnets) == 3
