"""Deployment, ConfigMap, ServiceAccount and Service: the properties the issue lists."""

from __future__ import annotations

import pytest

from tests.chart.chartlib import NAMESPACE, ROLE_ARN, VALUE_SETS, container

# Environment variables of the team contract (api/chalicelib/config.py and api/serve.py).
CONTRACT_ENV = {
    "AWS_REGION": "us-east-1",
    "USERS_TABLE": "users",
    "AVATARS_BUCKET": "users-api-avatars",
    "LOG_LEVEL": "INFO",
    "AVATAR_MAX_BYTES": "5242880",
    "AVATAR_MAX_PIXELS": "25000000",
    "READINESS_CACHE_SECONDS": "5",
    "HOST": "0.0.0.0",
    "PORT": "8000",
    "METRICS_PORT": "9090",
    "SERVER_THREADS": "16",
    "SERVER_RECEIVE_TIMEOUT": "20",
    "SERVER_GRACEFUL_TIMEOUT": "20",
    "SERVER_KEEPALIVE_TIMEOUT": "75",
}


def pod_spec(render):
    return render.one("Deployment")["spec"]["template"]["spec"]


# --- rollout and replicas ---------------------------------------------------------------------

def test_rolling_update_never_drops_below_desired(default):
    strategy = default.one("Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] not in (0, "0%")


def test_replicas_left_out_when_hpa_is_on(default, prod):
    for render in (default, prod):
        assert "replicas" not in render.one("Deployment")["spec"]
        assert render.all("HorizontalPodAutoscaler")


@pytest.mark.parametrize(("name", "replicas"), [("hpa-off", 3), ("single", 1)])
def test_replicas_set_when_hpa_is_off(helm, name, replicas):
    render = helm.rendered(name)
    assert render.one("Deployment")["spec"]["replicas"] == replicas
    assert not render.all("HorizontalPodAutoscaler")


# --- config and checksum ----------------------------------------------------------------------

def test_configmap_carries_the_contract_env(default):
    assert default.one("ConfigMap")["data"] == CONTRACT_ENV
    c = container(default.one("Deployment"))
    assert c["envFrom"] == [{"configMapRef": {"name": "users-api"}}]


def test_region_is_an_explicit_env_entry(default):
    """So the IRSA webhook (which only looks at env) does not inject its own AWS_REGION."""
    env = {e["name"]: e for e in container(default.one("Deployment"))["env"]}
    assert env["AWS_REGION"]["valueFrom"]["configMapKeyRef"] == {
        "name": "users-api", "key": "AWS_REGION"
    }


def test_cdk_keys_reach_the_pods(helm):
    render = helm.rendered("cdk")
    data = render.one("ConfigMap")["data"]
    assert data["USERS_TABLE"] == "UsersApiStack-UsersTable-ABC123"
    assert data["AVATARS_BUCKET"] == "usersapistack-avatarsbucket-abc123"
    assert data["AWS_REGION"] == "eu-west-1"
    c = container(render.one("Deployment"))
    assert c["image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api:3f2a9c1"
    assert pod_spec(render)["serviceAccountName"] == "users-api"
    assert "AWS_ENDPOINT_URL" not in data, "real AWS: no emulator endpoint"


def test_optional_config_only_when_set(default, full):
    assert "AVATAR_BASE_URL" not in default.one("ConfigMap")["data"]
    assert full.one("ConfigMap")["data"]["AVATAR_BASE_URL"] == "https://cdn.example.com/avatars"
    env = {e["name"]: e for e in container(full.one("Deployment"))["env"]}
    assert env["FEATURE_X"]["value"] == "on"


def test_no_secrets_and_no_static_keys(helm):
    for name in ("default", "prod", "full"):
        render = helm.rendered(name)
        assert not render.all("Secret")
        text = render.stdout
        assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_config_checksum_rolls_pods_on_config_change_only(helm, default):
    def checksum(render):
        return render.one("Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]

    assert len(checksum(default)) == 64
    assert checksum(helm.rendered("other-config")) != checksum(default)
    # A value outside the ConfigMap does not roll the pods through this annotation.
    assert checksum(helm.rendered("hpa-off")) == checksum(default)


def test_serviceaccount_checksum_rolls_pods_on_role_change(helm, default):
    def checksum(render):
        return render.one("Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/serviceaccount"
        ]

    assert checksum(helm.rendered("irsa")) != checksum(default)


# --- probes -----------------------------------------------------------------------------------

def test_probes_and_paths(default):
    c = container(default.one("Deployment"))
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]


def test_liveness_never_depends_on_dynamodb_or_s3(helm):
    for name in ("default", "prod", "full", "readiness-readyz"):
        c = container(helm.rendered(name).one("Deployment"))
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_probe_thresholds_tolerate_a_short_shared_outage(default):
    """Readiness drops a pod only after a minute of failures; it comes back at once."""
    c = container(default.one("Deployment"))
    ready = c["readinessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] >= 60
    assert ready["successThreshold"] == 1
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 30
    start = c["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 60


def test_probes_are_tunable(helm):
    render = helm.template({"probes": {
        "startup": {"periodSeconds": 5, "timeoutSeconds": 1, "failureThreshold": 12},
        "liveness": {"periodSeconds": 20, "timeoutSeconds": 4, "failureThreshold": 5},
        "readiness": {"periodSeconds": 7, "timeoutSeconds": 2, "failureThreshold": 2,
                      "successThreshold": 2},
    }})
    assert render.returncode == 0, render.stderr
    c = container(render.one("Deployment"))
    assert (c["startupProbe"]["periodSeconds"], c["startupProbe"]["failureThreshold"]) == (5, 12)
    assert (c["livenessProbe"]["periodSeconds"], c["livenessProbe"]["timeoutSeconds"]) == (20, 4)
    assert c["readinessProbe"]["successThreshold"] == 2


def test_readiness_can_check_dependencies_again(helm):
    c = container(helm.rendered("readiness-readyz").one("Deployment"))
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


# --- graceful termination ---------------------------------------------------------------------

def test_prestop_and_grace_period_fit_the_servers_graceful_timeout(default):
    spec = pod_spec(default)
    c = container(default.one("Deployment"))
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(default.one("ConfigMap")["data"]["SERVER_GRACEFUL_TIMEOUT"])
    assert pre_stop == 15
    assert graceful == 20
    assert spec["terminationGracePeriodSeconds"] == 40
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + graceful + 5


# --- security ---------------------------------------------------------------------------------

def test_pod_security_context(default):
    psc = pod_spec(default)["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 10001 and psc["runAsGroup"] == 10001
    assert psc["fsGroup"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_container_security_context(default):
    sc = container(default.one("Deployment"))["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_the_only_writable_mount(default, full):
    c = container(default.one("Deployment"))
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    # Room for request bodies buffered while they arrive (api/serve.py), about 1 GiB at most.
    assert pod_spec(default)["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "1152Mi"}}]
    assert pod_spec(full)["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}


def test_no_kubernetes_api_token(default):
    """The app never calls the Kubernetes API. Pod Identity / IRSA inject their own token volume."""
    assert pod_spec(default)["automountServiceAccountToken"] is False
    assert default.one("ServiceAccount", "api")["automountServiceAccountToken"] is False
    assert pod_spec(default)["enableServiceLinks"] is False


def test_resources_requests_and_limits_by_default(default):
    resources = container(default.one("Deployment"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


# --- spreading --------------------------------------------------------------------------------

def test_topology_spread_across_zones_and_nodes(default, prod):
    constraints = pod_spec(default)["topologySpreadConstraints"]
    keys = {c["topologyKey"]: c for c in constraints}
    assert set(keys) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    selector = default.one("Deployment")["spec"]["selector"]["matchLabels"]
    for c in constraints:
        assert c["labelSelector"]["matchLabels"] == selector
        assert c["maxSkew"] == 1
        assert c["matchLabelKeys"] == ["pod-template-hash"]
    prod_zone = {c["topologyKey"]: c for c in pod_spec(prod)["topologySpreadConstraints"]}
    assert prod_zone["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "DoNotSchedule"


def test_topology_spread_can_be_turned_off(helm):
    assert "topologySpreadConstraints" not in pod_spec(helm.rendered("minimal"))


# --- service account and service --------------------------------------------------------------

def test_service_account_default_name_and_no_annotation(default):
    sa = default.one("ServiceAccount", "api")
    assert sa["metadata"]["name"] == "users-api"
    assert "annotations" not in sa["metadata"]
    assert pod_spec(default)["serviceAccountName"] == "users-api"


def test_service_account_irsa_annotation(helm):
    render = helm.rendered("irsa")
    sa = render.one("ServiceAccount", "api")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}
    assert pod_spec(render)["serviceAccountName"] == sa["metadata"]["name"]


def test_existing_service_account(helm):
    render = helm.rendered("minimal")
    assert not render.all("ServiceAccount", "api")
    assert pod_spec(render)["serviceAccountName"] == "existing-sa"


def test_service_is_cluster_ip_on_the_http_port(default):
    svc = default.one("Service")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP",
         "appProtocol": "http"},
    ]


def test_metrics_port_is_its_own_and_reaches_the_app(helm):
    """/metrics moves off the API port: container port "metrics", METRICS_PORT, a Service port."""
    render = helm.template({"containerPorts": {"http": 8080, "metrics": 9100},
                            "service": {"metricsPort": 9100}})
    assert render.returncode == 0, render.stderr
    data = render.one("ConfigMap")["data"]
    assert (data["PORT"], data["METRICS_PORT"]) == ("8080", "9100")
    c = container(render.one("Deployment"))
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "metrics": 9100}
    # Probes stay on the API port, by name.
    assert {c[p]["httpGet"]["port"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {
        "http"}
    ports = {p["name"]: p for p in render.one("Service")["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9100 and ports["metrics"]["targetPort"] == "metrics"


def test_image_defaults_to_app_version(default):
    assert container(default.one("Deployment"))["image"] == "users-api:0.1.0"


def test_namespace_is_the_release_namespace(default):
    assert {d["metadata"]["namespace"] for d in default.docs} == {NAMESPACE}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_meets_the_restricted_pod_security_standard(helm, name):
    """The CDK app creates the namespace with Pod Security Admission "restricted" enforced."""
    render = helm.rendered(name)
    pod_specs = [pod_spec(render)] + [p["spec"] for p in render.all("Pod")] + [
        j["spec"]["jobTemplate"]["spec"]["template"]["spec"] for j in render.all("CronJob")]
    for spec in pod_specs:
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)
        assert all("hostPath" not in v for v in spec.get("volumes", []))
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True
        assert pod_sc["seccompProfile"]["type"] in {"RuntimeDefault", "Localhost"}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            assert sc.get("privileged") is not True
            assert "ports" not in c or all("hostPort" not in p for p in c["ports"])
