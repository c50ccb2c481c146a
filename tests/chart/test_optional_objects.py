"""Optional objects appear only when enabled; CRD objects are checked structurally.

ServiceMonitor, PrometheusRule and HTTPRoute come from CRDs, for which kubernetes-validate has no
schema, so these tests check the structure their controllers require.
"""

from __future__ import annotations

import re

import pytest

from tests.chart.chartlib import NAMESPACE, VALUE_SETS

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
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Pod",
        "Service", "ServiceAccount",
    }


@pytest.mark.parametrize("kind", sorted(OPTIONAL))
def test_optional_object_only_when_enabled(helm, kind):
    key = OPTIONAL[kind]
    assert not helm.rendered("default").all(kind)
    assert not helm.rendered("minimal").all(kind)
    assert len(helm.rendered("full").all(kind)) == 1
    one_on = helm.template({key: dict(VALUE_SETS["full"][key], enabled=True)})
    assert one_on.returncode == 0, one_on.stderr
    assert len(one_on.all(kind)) == 1
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


def test_ingress_hosts_tls_and_class(full, prod):
    ingress = full.one("Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["users.example.com", "api.example.com"]
    assert ingress["spec"]["tls"] == [{"secretName": "users-tls", "hosts": ["users.example.com"]}]
    anns = prod.one("Ingress")["metadata"]["annotations"]
    assert anns["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert anns["alb.ingress.kubernetes.io/healthcheck-path"] == "/healthz"
    assert "deregistration_delay.timeout_seconds=30" in (
        anns["alb.ingress.kubernetes.io/target-group-attributes"]
    )
    lb_attributes = anns["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert "idle_timeout.timeout_seconds=60" in lb_attributes


def test_ingress_without_hosts_matches_any_host(helm):
    render = helm.template({"ingress": {"enabled": True}})
    assert render.returncode == 0, render.stderr
    ingress = render.one("Ingress")
    rules = ingress["spec"]["rules"]
    assert len(rules) == 1 and "host" not in rules[0]
    # A ClusterIP Service only works with pod IP targets.
    assert ingress["metadata"]["annotations"] == {
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/healthcheck-path": "/healthz",
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
    policy = prod.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    egress = policy["egress"]
    assert len(egress) == 3
    dns, https, agent = egress
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    # Any address on port 53: EKS Auto Mode runs CoreDNS on each node, not as kube-dns pods.
    assert "to" not in dns
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert [t["ipBlock"]["cidr"] for t in https["to"]] == ["0.0.0.0/0"]
    assert agent["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert [t["ipBlock"]["cidr"] for t in agent["to"]] == ["169.254.170.23/32", "fd00:ec2::23/128"]
    # Ingress: only the app port.
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_network_policy_restricted_ingress_still_admits_the_helm_test(full):
    policy = full.one("NetworkPolicy")["spec"]
    peers = policy["ingress"][0]["from"]
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    assert {"namespaceSelector": {"matchLabels": monitoring}} in peers
    test_pod = full.one("Pod")
    selectors = [p["podSelector"]["matchLabels"] for p in peers if "podSelector" in p]
    assert any(s.items() <= test_pod["metadata"]["labels"].items() for s in selectors)
    dns, https = policy["egress"][:2]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert [t["ipBlock"]["cidr"] for t in https["to"]] == ["10.0.0.0/16", "0.0.0.0/0"]


def test_network_policy_without_pod_identity_agent(helm):
    render = helm.template({"networkPolicy": {"enabled": True, "podIdentityAgent": False}})
    assert render.returncode == 0, render.stderr
    egress = render.one("NetworkPolicy")["spec"]["egress"]
    assert len(egress) == 2
    assert "169.254.170.23" not in render.stdout


# --- ServiceMonitor (CRD) ---------------------------------------------------------------------

def test_service_monitor_structure(full):
    sm = full.one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = sm["spec"]
    service = full.one("Service")
    # The selector must pick the Service; the port is the `metrics` port (test_alerts.py checks
    # that the Service has it).
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert len(spec["endpoints"]) == 1
    endpoint = spec["endpoints"][0]
    assert endpoint["port"] == "metrics"
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
