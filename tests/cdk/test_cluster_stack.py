"""Cluster stack: VPC, EKS Auto Mode cluster (version, logging, endpoint), network policy,
add-ons (metrics-server, CloudWatch Observability), Pod Identity."""

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
    SWEEP_SERVICE_ACCOUNT,
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


# ------------------------------------------------ the EKS checks cdk-nag skips for aws_eks_v2
# cdk-nag's EKS1 (public endpoint) and EKS2 (control-plane logging) only match aws_eks.CfnCluster,
# so they never run on this cluster. These two tests check the same properties on the template.
def test_cdk_nag_eks_rules_cannot_see_this_cluster(cluster_template):
    """Why the tests below exist: the cluster is AWS::EKS::Cluster from aws_eks_v2 and no
    AwsSolutions-EKS* acknowledgement is (or needs to be) present anywhere."""
    assert len(of_type(cluster_template, "AWS::EKS::Cluster")) == 1
    assert "AwsSolutions-EKS" not in json.dumps(cluster_template)


@pytest.mark.parametrize(
    ("env_name", "public"),
    [
        ("dev", True),  # dev default: public (IAM-authenticated), for laptop deploys
        ("prod", False),  # prod default: private endpoint only
    ],
)
def test_endpoint_access_like_cdk_nag_eks1(cdk_templates, env_name, public):
    vpc_config = eks_cluster(cdk_templates[env_name]["cluster"])["ResourcesVpcConfig"]
    assert vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["EndpointPublicAccess"] is public
    if public:
        # Open to the internet only where the settings say so (dev, no apiAllowedCidrs).
        assert vpc_config.get("PublicAccessCidrs", ["0.0.0.0/0"]) == ["0.0.0.0/0"]
    else:
        assert "PublicAccessCidrs" not in vpc_config


def test_endpoint_allow_list_restricts_the_public_endpoint():
    """apiAllowedCidrs opens the public endpoint to exactly those CIDRs, in any environment (the
    session synth covers the two defaults above; this covers the allow-list without a synth)."""
    from users_api_infra.cluster_stack import public_endpoint_cidrs
    from users_api_infra.settings import settings_for

    assert public_endpoint_cidrs(settings_for("prod")) is None
    assert public_endpoint_cidrs(settings_for("dev")) == ("0.0.0.0/0",)
    for env_name in ENVS:
        restricted = settings_for(env_name, {"apiAllowedCidrs": "203.0.113.0/24"})
        assert public_endpoint_cidrs(restricted) == ("203.0.113.0/24",)


def test_cluster_control_plane_logging_all_types_with_retention(cdk_assertions, env):
    """Like cdk-nag EKS2 (which skips aws_eks_v2): every control-plane log type is on."""
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


def test_node_role_uses_the_minimal_auto_mode_policies(cluster_template):
    node_role_ref = eks_cluster(cluster_template)["ComputeConfig"]["NodeRoleArn"]["Fn::GetAtt"][0]
    role = props(cluster_template["Resources"][node_role_ref])
    names = sorted(arn["Fn::Join"][1][-1].rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"])
    assert names == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodeMinimalPolicy"]


# ----------------------------------------------------------------------- add-ons, platform
def addon(template: dict, name: str) -> dict:
    found = [a for a in of_type(template, "AWS::EKS::Addon").values()
             if props(a)["AddonName"] == name]
    assert len(found) == 1, f"expected one {name} add-on"
    return found[0]


def node_pool_id(template: dict) -> str:
    return next(k for k in template["Resources"] if k.startswith("ClustermanifestNodePool"))


def test_addons_are_exactly_metrics_server_and_cloudwatch_observability(cluster_template):
    names = sorted(props(a)["AddonName"] for a in of_type(cluster_template, "AWS::EKS::Addon").values())
    assert names == ["amazon-cloudwatch-observability", "metrics-server"]


def test_metrics_server_addon_after_the_node_pool(cluster_template):
    metrics_server = addon(cluster_template, "metrics-server")
    assert node_pool_id(cluster_template) in metrics_server.get("DependsOn", [])


# ---------------------------------------------------------------- logs that outlive nodes
CONTAINER_LOG_RETENTION = {"dev": 14, "prod": 90}


def test_cloudwatch_observability_addon_uses_pod_identity(cluster_template):
    observability = addon(cluster_template, "amazon-cloudwatch-observability")
    (association,) = props(observability)["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "cloudwatch-agent"
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    role = props(cluster_template["Resources"][role_id])
    names = [arn["Fn::Join"][1][-1].rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]]
    assert names == ["CloudWatchAgentServerPolicy"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    cluster_id = one(cluster_template, "AWS::EKS::Cluster")[0]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [cluster_id, "Arn"]}},
    }
    # Its agents need nodes; the log groups must exist before the agents could create them.
    assert node_pool_id(cluster_template) in observability["DependsOn"]


def test_container_log_groups_have_a_retention_and_come_before_the_addon(cluster_template, env):
    observability = addon(cluster_template, "amazon-cloudwatch-observability")
    groups = {
        props(g)["LogGroupName"]: (logical_id, g)
        for logical_id, g in of_type(cluster_template, "AWS::Logs::LogGroup").items()
        if "/aws/containerinsights/" in repr(props(g).get("LogGroupName"))
    }
    assert sorted(groups) == [
        f"/aws/containerinsights/users-api-{env}/{kind}"
        for kind in ("application", "dataplane", "host", "performance")
    ]
    for logical_id, group in groups.values():
        assert props(group)["RetentionInDays"] == CONTAINER_LOG_RETENTION[env]
        assert logical_id in observability["DependsOn"]
        assert group["DeletionPolicy"] == ("RetainExceptOnCreate" if env == "prod" else "Delete")


def test_named_log_groups_never_block_a_redeploy(cluster_template, env):
    """A retained log group with a fixed name left by a failed first create makes the next
    deploy fail with AlreadyExists: fixed names are RETAIN_ON_UPDATE_OR_DELETE in prod."""
    for logical_id, group in of_type(cluster_template, "AWS::Logs::LogGroup").items():
        name = props(group).get("LogGroupName")
        if isinstance(name, str):
            assert group.get("DeletionPolicy") in ("RetainExceptOnCreate", "Delete"), logical_id


# ------------------------------------------------------------------------ network policy
def test_network_policy_controller_is_switched_on(cluster_template):
    config_map = manifest(cluster_template, "ConfigMap", "amazon-vpc-cni")
    assert config_map["metadata"]["namespace"] == "kube-system"
    assert config_map["data"] == {"enable-network-policy-controller": "true"}


def test_the_app_node_pool_uses_a_node_class_that_enforces_network_policy(cluster_template):
    node_class = manifest(cluster_template, "NodeClass", "users-api")
    assert node_class["apiVersion"] == "eks.amazonaws.com/v1"
    spec = node_class["spec"]
    assert spec["networkPolicy"] == "DefaultAllow"
    pool = manifest(cluster_template, "NodePool", "users-api")
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "eks.amazonaws.com", "kind": "NodeClass", "name": "users-api",
    }


def test_node_class_resources_are_the_cluster_defaults(cluster_template):
    """What the built-in default NodeClass uses: the Auto Mode node role (which already has its
    EC2 access entry), the private subnets and the cluster security group."""
    spec = manifest(cluster_template, "NodeClass", "users-api")["spec"]
    cluster_id, cluster = one(cluster_template, "AWS::EKS::Cluster")
    node_role_id = props(cluster)["ComputeConfig"]["NodeRoleArn"]["Fn::GetAtt"][0]
    assert spec["role"] == "${" + node_role_id + "}"
    private = sorted(k for k in of_type(cluster_template, "AWS::EC2::Subnet") if k.startswith("Vpcprivate"))
    assert sorted(term["id"] for term in spec["subnetSelectorTerms"]) == [
        "${" + subnet_id + "}" for subnet_id in private
    ]
    assert spec["securityGroupSelectorTerms"] == [{"id": "${" + cluster_id + ".ClusterSecurityGroupId}"}]
    resources = cluster_template["Resources"]
    node_class_id = next(k for k in resources if k.startswith("ClustermanifestNodeClass"))
    controller_id = next(k for k in resources if k.startswith("ClustermanifestNetworkPolicyController"))
    assert controller_id in resources[node_class_id].get("DependsOn", [])
    assert node_class_id in resources[node_pool_id(cluster_template)].get("DependsOn", [])


# ------------------------------------------------------------------------------ identity
@pytest.mark.parametrize(
    ("association_id", "service_account", "role"),
    [
        ("AppPodIdentity", SERVICE_ACCOUNT, "AppRole"),
        ("SweepPodIdentity", SWEEP_SERVICE_ACCOUNT, "SweepRole"),
    ],
)
def test_pod_identity_associations_bind_the_data_stack_roles(
        cluster_template, env, association_id, service_account, role):
    _, association = one(cluster_template, "AWS::EKS::PodIdentityAssociation", association_id)
    p = props(association)
    assert p["Namespace"] == NAMESPACE == "users-api"
    assert p["ServiceAccount"] == service_account
    assert p["ClusterName"] == {"Ref": one(cluster_template, "AWS::EKS::Cluster")[0]}
    role_ref = repr(p["RoleArn"])
    assert f"users-api-{env}-data" in role_ref and role in role_ref
    assert len(of_type(cluster_template, "AWS::EKS::PodIdentityAssociation")) == 2


def test_sweep_service_account_is_the_chart_fullname_plus_sweep():
    # The chart: the sweep CronJob `<fullname>-sweep` runs as service account `<fullname>-sweep`;
    # for release users-api of chart users-api the fullname is "users-api".
    assert SWEEP_SERVICE_ACCOUNT == "users-api-sweep" == f"{SERVICE_ACCOUNT}-sweep"


def test_cdk_never_creates_the_service_account_nor_irsa(cluster_template):
    kinds = {m["kind"] for m in manifests(cluster_template)}
    assert "ServiceAccount" not in kinds, "the Helm chart owns the ServiceAccount"
    assert kinds == {"ConfigMap", "NodeClass", "NodePool", "IngressClassParams", "IngressClass",
                     "Namespace"}
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
    either: no credentials, no account data in cdk.context.json. A fast synth of the stacks
    that could look something up (no nag, no built-in validation: those run in the session synth)."""
    import aws_cdk as cdk

    from users_api_infra.cdn_stack import AvatarCdnStack
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
    AvatarCdnStack(app, "cdn", settings=settings, avatars_bucket=data.avatars_bucket, env=env)
    cluster = ClusterStack(app, "cluster", settings=settings, app_role=data.app_role,
                           sweep_role=data.sweep_role, env=env)
    app.synth()
    manifest_json = json.loads((tmp_path / "manifest.json").read_text())
    assert "missing" not in manifest_json, manifest_json.get("missing")
    assert manifest_json["artifacts"]["cluster"]["environment"] == "aws://123456789012/eu-west-1"
    assert manifest_json["artifacts"]["cdn"]["environment"] == "aws://123456789012/eu-west-1"
    assert len(cluster.vpc.private_subnets) == 3
