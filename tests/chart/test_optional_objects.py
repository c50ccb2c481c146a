"""Optional objects appear only when enabled; CRD objects are checked structurally.

ServiceMonitor, PrometheusRule and HTTPRoute come from CRDs, for which kubernetes-validate has no
schema, so these tests check the structure their controllers require.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.chart.chartlib import (
    AWS_PREFIX_LIST_CIDRS,
    CERTIFICATE_ARN,
    NAMESPACE,
    VALUE_SETS,
    container,
)

OPTIONAL = {
    "Ingress": "ingress",
    "HTTPRoute": "httpRoute",
    "NetworkPolicy": "networkPolicy",
    "ServiceMonitor": "serviceMonitor",
    "PrometheusRule": "prometheusRule",
}
INTERNAL_PATHS = ("/metrics", "/healthz", "/readyz")
PUBLIC_PATHS = {"/users", "/user", "/swagger", "/openapi.json", "/openapi.yaml"}
DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")


def test_defaults_render_only_core_objects(default):
    assert default.kinds() == {
        "ConfigMap", "CronJob", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "Pod", "Service", "ServiceAccount",
    }


@pytest.mark.parametrize("kind", sorted(OPTIONAL))
def test_optional_object_only_when_enabled(helm, kind):
    key = OPTIONAL[kind]
    assert not helm.rendered("default").all(kind)
    assert not helm.rendered("minimal").all(kind)
    assert len(helm.rendered("full").all(kind, "api")) == 1
    one_on = helm.template({key: dict(VALUE_SETS["full"][key], enabled=True)})
    assert one_on.returncode == 0, one_on.stderr
    assert len(one_on.all(kind, "api")) == 1
    assert not one_on.kinds() & (set(OPTIONAL) - {kind}), "enabling one enabled others"


# --- Ingress ----------------------------------------------------------------------------------

def ingress_paths(ingress):
    return [
        (p["path"], p["pathType"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]


def test_ingress_routes_only_public_paths(prod, full):
    for render in (prod, full):
        ingress = render.one("Ingress")
        paths = ingress_paths(ingress)
        assert {p for p, _ in paths} == PUBLIC_PATHS
        for path, _ in paths:
            assert path != "/" and not path.startswith(INTERNAL_PATHS)
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                assert p["backend"]["service"] == {"name": "users-api", "port": {"name": "http"}}


ALB = "alb.ingress.kubernetes.io/"


def annotations(ingress):
    return {k.removeprefix(ALB): v for k, v in ingress["metadata"]["annotations"].items()}


def test_ingress_hosts_tls_and_class(full, prod):
    ingress = full.one("Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["users.example.com", "api.example.com"]
    # ALB with ACM: the certificate is an annotation, never a Secret in spec.tls.
    assert "tls" not in ingress["spec"]
    anns = annotations(ingress)
    assert anns["scheme"] == "internal"
    assert anns["wafv2-acl-arn"].startswith("arn:aws:wafv2:"), "extra annotations pass through"
    assert anns["certificate-arn"] == CERTIFICATE_ARN
    assert anns["listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert anns["ssl-redirect"] == "443"
    assert anns["ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def test_prod_ingress_is_https_only_on_any_host(prod):
    """values-prod.yaml + the deploy flow's certificate: HTTPS, HTTP redirects, no placeholder host."""
    ingress = prod.one("Ingress")
    anns = annotations(ingress)
    assert anns["scheme"] == "internet-facing"
    assert anns["target-type"] == "ip"
    assert anns["certificate-arn"] == CERTIFICATE_ARN
    assert anns["ssl-redirect"] == "443"
    assert json.loads(anns["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert all("host" not in rule for rule in ingress["spec"]["rules"])
    assert "example.com" not in yaml.safe_dump(ingress)


def test_ingress_without_certificate_serves_http_only(helm):
    render = helm.template({"ingress": {"enabled": True, "className": "users-alb"}})
    assert render.returncode == 0, render.stderr
    ingress = render.one("Ingress")
    assert ingress["spec"]["ingressClassName"] == "users-alb"
    rules = ingress["spec"]["rules"]
    assert len(rules) == 1 and "host" not in rules[0]
    anns = annotations(ingress)
    assert json.loads(anns["listen-ports"]) == [{"HTTP": 80}]
    assert not {"certificate-arn", "ssl-redirect", "ssl-policy"} & set(anns)


def test_ingress_certificate_without_redirect_listens_on_both(helm):
    render = helm.template({"ingress": {"enabled": True, "tls": {"certificateArn": CERTIFICATE_ARN}}})
    assert render.returncode == 0, render.stderr
    anns = annotations(render.one("Ingress"))
    assert json.loads(anns["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert "ssl-redirect" not in anns


@pytest.mark.parametrize("check_dependencies", [True, False])
def test_alb_health_check_stays_on_healthz(helm, prod, full, check_dependencies):
    """The ALB checks liveness only, whatever readiness probes: readiness alone decides which pods
    get traffic."""
    render = helm.template({"ingress": {"enabled": True},
                            "probes": {"readiness": {"checkDependencies": check_dependencies}}})
    assert render.returncode == 0, render.stderr
    for r in (render, prod, full):
        anns = annotations(r.one("Ingress"))
        assert anns["healthcheck-path"] == "/healthz"
        assert anns["healthcheck-port"] == "traffic-port"
        assert anns["success-codes"] == "200"


def alb_timing(render):
    """The numbers the rollout arithmetic uses, read back from the rendered objects."""
    anns = annotations(render.one("Ingress"))
    pod = render.one("Deployment")["spec"]["template"]["spec"]
    (drain,) = [a for a in anns["target-group-attributes"].split(",")
                if a.startswith("deregistration_delay.timeout_seconds=")]
    idle = dict(a.split("=") for a in anns["load-balancer-attributes"].split(","))
    data = render.one("ConfigMap")["data"]
    return {
        "interval": int(anns["healthcheck-interval-seconds"]),
        "timeout": int(anns["healthcheck-timeout-seconds"]),
        "healthy": int(anns["healthy-threshold-count"]),
        "deregistration": int(drain.split("=")[1]),
        "idle": int(idle["idle_timeout.timeout_seconds"]),
        "min_ready": render.one("Deployment")["spec"]["minReadySeconds"],
        "pre_stop": pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
        "grace": pod["terminationGracePeriodSeconds"],
        "graceful": int(data["SERVER_GRACEFUL_TIMEOUT"]),
        "keepalive": int(data["SERVER_KEEPALIVE_TIMEOUT"]),
    }


@pytest.mark.parametrize("name", ["prod", "full"])
def test_rollout_never_drops_capacity_behind_the_alb(helm, name):
    """The arithmetic of the chart README's "Rollouts behind the ALB", on the rendered objects."""
    render = helm.rendered(name)
    t = alb_timing(render)
    reaction = 10  # the controller's reaction time the README and the chart's check assume
    # New pod: the controller registers its IP, then `healthy` passed checks. Only then may the
    # Deployment count it available and remove an old pod.
    assert t["min_ready"] >= reaction + t["healthy"] * t["interval"]
    assert t["timeout"] < t["interval"]
    # Old pod: it keeps serving until the ALB has stopped sending it new requests...
    assert t["pre_stop"] >= reaction
    # ...and the ALB lets it finish what it has (preStop + graceful drain) before cutting anything.
    assert t["deregistration"] >= t["pre_stop"] + t["graceful"]
    assert t["grace"] >= t["pre_stop"] + t["graceful"] + 5
    assert t["keepalive"] > t["idle"]
    strategy = render.one("Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_default_rollout_numbers(prod):
    assert alb_timing(prod) == {
        "interval": 5, "timeout": 3, "healthy": 2, "deregistration": 35, "idle": 60,
        "min_ready": 30, "pre_stop": 15, "grace": 40, "graceful": 20, "keepalive": 75,
    }


# --- HTTPRoute (CRD) --------------------------------------------------------------------------

def test_httproute_structure(full):
    route = full.one("HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["namespace"] == NAMESPACE
    spec = route["spec"]
    assert set(spec) <= {"parentRefs", "hostnames", "rules"}
    assert spec["parentRefs"] == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert spec["hostnames"] == ["users.example.com"]
    assert 1 <= len(spec["rules"]) <= 16
    values = set()
    for rule in spec["rules"]:
        assert set(rule) <= {"matches", "backendRefs", "filters"}
        assert 1 <= len(rule["matches"]) <= 64
        for match in rule["matches"]:
            assert match["path"]["type"] in {"Exact", "PathPrefix"}
            assert match["path"]["value"].startswith("/")
            values.add(match["path"]["value"])
        assert rule["backendRefs"] == [{"name": "users-api", "port": 80}]
    assert values == PUBLIC_PATHS, "the HTTPRoute must not route /metrics or the probes"


# --- NetworkPolicy ----------------------------------------------------------------------------

def test_network_policy_egress_only_dns_https_and_pod_identity(prod):
    policy = prod.one("NetworkPolicy", "api")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    egress = policy["egress"]
    assert len(egress) == 3
    dns, https, agent = egress
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    # Any address on port 53: EKS Auto Mode runs the cluster DNS on each node, not as kube-dns pods.
    assert "to" not in dns
    # No prefix-list CIDRs given: 443 to any address (README "NetworkPolicy" says why), 443 only.
    assert https == {"ports": [{"port": 443, "protocol": "TCP"}]}
    assert agent["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert [t["ipBlock"]["cidr"] for t in agent["to"]] == ["169.254.170.23/32", "fd00:ec2::23/128"]


def test_network_policy_http_from_the_alb_metrics_from_the_cluster(prod):
    """Ingress: the API port from anywhere the ALB (target type ip) comes from; /metrics only from
    pods of the cluster."""
    http, metrics = prod.one("NetworkPolicy", "api")["spec"]["ingress"]
    assert http == {"ports": [{"port": "http", "protocol": "TCP"}]}
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {}}]
    # The port names are the Deployment's.
    ports = {p["name"] for p in container(prod.one("Deployment"))["ports"]}
    assert {"http", "metrics"} <= ports
    for peer in metrics["from"]:
        assert "ipBlock" not in peer, "/metrics must not open to addresses outside the cluster"


def test_network_policy_https_only_to_the_gateway_prefix_lists(helm):
    render = helm.rendered("prod-aws-cidrs")
    for component in ("api", "sweep"):
        https = render.one("NetworkPolicy", component)["spec"]["egress"][1]
        assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
        assert [t["ipBlock"]["cidr"] for t in https["to"]] == AWS_PREFIX_LIST_CIDRS
    assert "0.0.0.0/0" not in render.stdout


def test_network_policy_restricted_ingress_still_admits_the_helm_test(full):
    policy = full.one("NetworkPolicy", "api")["spec"]
    http, metrics = policy["ingress"]
    assert {"ipBlock": {"cidr": "10.0.0.0/16"}} in http["from"]
    test_pod = full.one("Pod")
    selectors = [p["podSelector"]["matchLabels"] for p in http["from"] if "podSelector" in p]
    assert any(s.items() <= test_pod["metadata"]["labels"].items() for s in selectors)
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": monitoring}}]
    dns, https = policy["egress"][:2]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert [t["ipBlock"]["cidr"] for t in https["to"]] == AWS_PREFIX_LIST_CIDRS


def test_network_policy_of_the_sweep_admits_nothing_in(prod):
    api = prod.one("NetworkPolicy", "api")["spec"]
    sweep_policy = prod.one("NetworkPolicy", "sweep")
    assert sweep_policy["metadata"]["name"] == "users-api-sweep"
    spec = sweep_policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == []
    assert spec["egress"] == api["egress"]
    job_pod = prod.one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    assert spec["podSelector"]["matchLabels"].items() <= job_pod["labels"].items()
    assert not api["podSelector"]["matchLabels"].items() <= job_pod["labels"].items()


def test_network_policy_without_pod_identity_agent(helm):
    render = helm.template({"networkPolicy": {"enabled": True,
                                              "egress": {"podIdentityAgent": False}}})
    assert render.returncode == 0, render.stderr
    egress = render.one("NetworkPolicy", "api")["spec"]["egress"]
    assert len(egress) == 2
    assert "169.254.170.23" not in render.stdout


# --- ServiceMonitor (CRD) ---------------------------------------------------------------------

def test_service_monitor_structure(full):
    sm = full.one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = sm["spec"]
    service = full.one("Service")
    # The selector must pick the Service; the port is the Service's `metrics` port.
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert len(spec["endpoints"]) == 1
    endpoint = spec["endpoints"][0]
    assert endpoint["port"] == "metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert DURATION.match(endpoint["interval"]) and DURATION.match(endpoint["scrapeTimeout"])


# --- PrometheusRule (CRD) ---------------------------------------------------------------------
# Its rules, alerts and promtool tests: tests/chart/test_alerts.py.


# --- helm test --------------------------------------------------------------------------------

def test_helm_test_pod_checks_readyz_through_the_service(default):
    pod = default.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    service = default.one("Service")
    url = f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}/readyz"
    assert env["READYZ_URL"] == url
    assert c["command"][:2] == ["python3", "-c"]
    assert 'status") == "ready"' in c["command"][2]
    # Restricted like the app, and not selected by the Service.
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    selector = service["spec"]["selector"]
    assert not selector.items() <= pod["metadata"]["labels"].items()


def test_helm_test_pod_can_be_disabled(helm):
    assert not helm.rendered("minimal").all("Pod")
