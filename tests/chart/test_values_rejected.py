"""Invalid values fail the render: by values.schema.json, or by the chart's cross-field `fail`.

Every case is rendered by helm itself (the real enforcer), all in one thread pool to keep the suite
fast; each case is still its own test.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.chart.chartlib import PROD_VALUES, ROLE_ARN

SCHEMA_ERROR = "values don't meet the specifications of the schema"

# id -> (values, the JSON pointer helm reports, a fragment of its message)
SCHEMA_REJECTIONS = {
    "unknown-top-level-key": ({"replicas": 3}, "", "additional properties 'replicas'"),
    "unknown-top-level-typo": ({"autoscalling": {"enabled": False}}, "", "'autoscalling'"),
    "replicaCount-string": ({"replicaCount": "two"}, "/replicaCount", "want integer"),
    "replicaCount-zero": ({"replicaCount": 0}, "/replicaCount", "minimum"),
    "image-repository-empty": ({"image": {"repository": ""}}, "/image/repository", ""),
    "image-tag-number": ({"image": {"tag": 123}}, "/image/tag", "want string"),
    "image-pullPolicy-enum": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", ""),
    "image-unknown-key": ({"image": {"digest": "sha256:x"}}, "/image", "additional properties"),
    "imagePullSecrets-shape": ({"imagePullSecrets": ["regcred"]}, "/imagePullSecrets/0", ""),
    "config-region": ({"config": {"awsRegion": "moon-1"}}, "/config/awsRegion", ""),
    "config-table-too-short": ({"config": {"usersTable": "u"}}, "/config/usersTable", ""),
    "config-bucket-uppercase": ({"config": {"avatarsBucket": "Avatars"}},
                                "/config/avatarsBucket", ""),
    "config-loglevel": ({"config": {"logLevel": "VERBOSE"}}, "/config/logLevel", ""),
    "config-maxbytes-string": ({"config": {"avatarMaxBytes": "5MB"}}, "/config/avatarMaxBytes", ""),
    "config-maxbytes-negative": ({"config": {"avatarMaxBytes": -1}}, "/config/avatarMaxBytes", ""),
    "config-baseurl-not-url": ({"config": {"avatarBaseUrl": "cdn"}}, "/config/avatarBaseUrl", ""),
    "config-unknown-key": ({"config": {"tableName": "users"}}, "/config", "'tableName'"),
    "server-threads-zero": ({"server": {"threads": 0}}, "/server/threads", "minimum"),
    "server-threads-float": ({"server": {"threads": 2.5}}, "/server/threads", ""),
    "server-graceful-below-the-backend-wait": ({"server": {"gracefulTimeout": 5}},
                                               "/server/gracefulTimeout", "minimum"),
    "gunicorn-values-are-gone": ({"gunicorn": {"workers": 2}}, "", "additional"),
    "extraEnv-without-name": ({"extraEnv": [{"value": "x"}]}, "/extraEnv/0", "name"),
    "sa-name-empty": ({"serviceAccount": {"name": ""}}, "/serviceAccount/name", ""),
    "sa-name-invalid": ({"serviceAccount": {"name": "Users_API"}}, "/serviceAccount/name", ""),
    "sa-role-arn-invalid": (
        {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "users-api-role"}}},
        "/serviceAccount/annotations/eks.amazonaws.com~1role-arn", "",
    ),
    "sa-annotation-not-string": (
        {"serviceAccount": {"annotations": {"example.com/x": 1}}},
        "/serviceAccount/annotations/example.com~1x", "want string",
    ),
    "sa-automount-string": ({"serviceAccount": {"automountToken": "false"}},
                            "/serviceAccount/automountToken", "want boolean"),
    # helm reports propertyNames failures at the root pointer, naming the property.
    "podLabels-reserved": ({"podLabels": {"app.kubernetes.io/name": "x"}}, "",
                           "invalid propertyName 'app.kubernetes.io/name'"),
    "pod-runAsUser-root": ({"podSecurityContext": {"runAsUser": 0}},
                           "/podSecurityContext/runAsUser", "minimum"),
    "pod-runAsNonRoot-false": ({"podSecurityContext": {"runAsNonRoot": False}},
                               "/podSecurityContext/runAsNonRoot", ""),
    "container-rw-rootfs": ({"securityContext": {"readOnlyRootFilesystem": False}},
                            "/securityContext/readOnlyRootFilesystem", ""),
    "container-priv-escalation": ({"securityContext": {"allowPrivilegeEscalation": True}},
                                  "/securityContext/allowPrivilegeEscalation", ""),
    "container-privileged": ({"securityContext": {"privileged": True}},
                             "/securityContext/privileged", ""),
    "container-caps-not-all": ({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
                               "/securityContext/capabilities/drop", ""),
    "container-caps-add": ({"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
                           "/securityContext/capabilities/add", ""),
    "seccomp-unconfined": ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                           "/securityContext/seccompProfile/type", ""),
    "tmp-medium": ({"tmpVolume": {"medium": "HugePages"}}, "/tmpVolume/medium", ""),
    "resources-bad-quantity": ({"resources": {"requests": {"cpu": "lots"}}},
                               "/resources/requests/cpu", ""),
    "resources-no-memory-limit": ({"resources": {"limits": {"memory": None}}},
                                  "/resources/limits", "memory"),
    "containerPorts-privileged": ({"containerPorts": {"http": 80}}, "/containerPorts/http",
                                  "minimum"),
    "containerPorts-unknown-key": ({"containerPorts": {"admin": 9000}}, "/containerPorts",
                                   "additional properties"),
    "service-metricsPort-range": ({"service": {"metricsPort": 0}}, "/service/metricsPort",
                                  "minimum"),
    "service-type": ({"service": {"type": "LoadBalancer"}}, "/service/type", ""),
    "service-port-range": ({"service": {"port": 70000}}, "/service/port", "maximum"),
    "probe-unknown-key": ({"probes": {"readiness": {"path": "/"}}}, "/probes/readiness", "'path'"),
    "probe-period-zero": ({"probes": {"liveness": {"periodSeconds": 0}}},
                          "/probes/liveness/periodSeconds", "minimum"),
    "probe-check-deps-string": ({"probes": {"readiness": {"checkDependencies": "yes"}}},
                                "/probes/readiness/checkDependencies", "want boolean"),
    "prestop-zero": ({"lifecycle": {"preStopSleepSeconds": 0}},
                     "/lifecycle/preStopSleepSeconds", "minimum"),
    "grace-string": ({"terminationGracePeriodSeconds": "35"}, "/terminationGracePeriodSeconds",
                     "want integer"),
    "maxSurge-zero": ({"rollout": {"maxSurge": 0}}, "/rollout/maxSurge", ""),
    "maxSurge-zero-percent": ({"rollout": {"maxSurge": "0%"}}, "/rollout/maxSurge", ""),
    "hpa-enabled-string": ({"autoscaling": {"enabled": "yes"}}, "/autoscaling/enabled",
                           "want boolean"),
    "hpa-min-zero": ({"autoscaling": {"minReplicas": 0}}, "/autoscaling/minReplicas", "minimum"),
    "hpa-cpu-over-100": ({"autoscaling": {"targetCPUUtilizationPercentage": 150}},
                         "/autoscaling/targetCPUUtilizationPercentage", ""),
    "hpa-scaledown-negative": (
        {"autoscaling": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": -1}}}},
        "/autoscaling/behavior/scaleDown/stabilizationWindowSeconds", "minimum",
    ),
    "pdb-maxUnavailable-zero": ({"podDisruptionBudget": {"maxUnavailable": 0}},
                                "/podDisruptionBudget/maxUnavailable", ""),
    "pdb-policy-enum": ({"podDisruptionBudget": {"unhealthyPodEvictionPolicy": "Never"}},
                        "/podDisruptionBudget/unhealthyPodEvictionPolicy", ""),
    "spread-when-enum": ({"topologySpread": {"zoneWhenUnsatisfiable": "Maybe"}},
                         "/topologySpread/zoneWhenUnsatisfiable", ""),
    "publicPaths-relative": ({"publicPaths": [{"path": "users", "pathType": "Exact"}]},
                             "/publicPaths/0/path", ""),
    "publicPaths-type": ({"publicPaths": [{"path": "/users", "pathType": "Regex"}]},
                         "/publicPaths/0/pathType", ""),
    "publicPaths-empty": ({"publicPaths": []}, "/publicPaths", "minItems"),
    "ingress-host-invalid": ({"ingress": {"hosts": ["Not A Host"]}}, "/ingress/hosts/0", ""),
    "ingress-tls-list": ({"ingress": {"tls": [{"secretName": "users-tls"}]}}, "/ingress/tls",
                         "want object"),
    "ingress-certificate-not-acm": (
        {"ingress": {"tls": {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}}},
        "/ingress/tls/certificateArn", "",
    ),
    "ingress-scheme-enum": ({"ingress": {"scheme": "public"}}, "/ingress/scheme", ""),
    "ingress-health-interval-too-short": ({"ingress": {"healthCheck": {"intervalSeconds": 1}}},
                                          "/ingress/healthCheck/intervalSeconds", "minimum"),
    "ingress-healthy-threshold-one": (
        {"ingress": {"healthCheck": {"healthyThresholdCount": 1}}},
        "/ingress/healthCheck/healthyThresholdCount", "minimum",
    ),
    "ingress-annotation-overrides-chart": (
        {"ingress": {"annotations": {"alb.ingress.kubernetes.io/healthcheck-path": "/readyz"}}},
        "/ingress/annotations", "",
    ),
    "ingress-enabled-string": ({"ingress": {"enabled": "true"}}, "/ingress/enabled",
                               "want boolean"),
    "httproute-parent-without-name": ({"httpRoute": {"parentRefs": [{"namespace": "gw"}]}},
                                      "/httpRoute/parentRefs/0", "name"),
    "netpol-cidr": ({"networkPolicy": {"egress": {"awsCidrs": ["everywhere"]}}},
                    "/networkPolicy/egress/awsCidrs/0", ""),
    "netpol-cidr-duplicate": (
        {"networkPolicy": {"egress": {"awsCidrs": ["52.94.0.0/22", "52.94.0.0/22"]}}},
        "/networkPolicy/egress/awsCidrs", "",
    ),
    "netpol-dns-not-a-list": ({"networkPolicy": {"egress": {"dnsTo": "kube-dns"}}},
                              "/networkPolicy/egress/dnsTo", "want array"),
    "netpol-old-flat-key": ({"networkPolicy": {"awsApiCidrs": ["0.0.0.0/0"]}}, "/networkPolicy",
                            "additional properties 'awsApiCidrs'"),
    "netpol-metrics-from-anywhere": ({"networkPolicy": {"ingress": {"metricsFrom": []}}},
                                     "/networkPolicy/ingress/metricsFrom", "minItems"),
    "netpol-metrics-from-ipblock": (
        {"networkPolicy": {"ingress": {"metricsFrom": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}}},
        "/networkPolicy/ingress/metricsFrom/0", "additional properties 'ipBlock'",
    ),
    "servicemonitor-interval": ({"serviceMonitor": {"interval": "30 seconds"}},
                                "/serviceMonitor/interval", ""),
    "rule-enabled-yes": ({"prometheusRule": {"enabled": "yes"}}, "/prometheusRule/enabled", ""),
    "slo-objective-1": ({"slo": {"availability": {"objective": 1}}},
                        "/slo/availability/objective", ""),
    "slo-threshold-not-a-bucket": ({"slo": {"latency": {"requests": [
        {"route": "/user", "method": "POST", "listing": "", "thresholdSeconds": 0.3}]}}},
        "/slo/latency/requests/0/thresholdSeconds", ""),
    "slo-window-unit": ({"slo": {"burnRates": {"page": [
        {"burnRate": 14.4, "longWindow": "1 hour", "shortWindow": "5m"}]}}},
        "/slo/burnRates/page/0/longWindow", ""),
    "keda-enabled-yes": ({"keda": {"enabled": "yes"}}, "/keda/enabled", ""),
    "sweep-schedule-garbage": ({"sweep": {"schedule": "daily"}}, "/sweep/schedule", ""),
    "sweep-enabled-string": ({"sweep": {"enabled": "true"}}, "/sweep/enabled", "want boolean"),
    "sweep-grace-negative": ({"sweep": {"graceMinutes": -5}}, "/sweep/graceMinutes", "minimum"),
    "sweep-sa-name-empty": ({"sweep": {"serviceAccount": {"name": ""}}},
                            "/sweep/serviceAccount/name", ""),
    "sweep-no-failed-history": ({"sweep": {"failedJobsHistoryLimit": 0}},
                                "/sweep/failedJobsHistoryLimit", "minimum"),
    "sweep-no-memory-limit": ({"sweep": {"resources": {"limits": {"memory": None}}}},
                              "/sweep/resources/limits", "memory"),
    "tests-enabled-string": ({"tests": {"enabled": 1}}, "/tests/enabled", "want boolean"),
}

# id -> (values, a fragment of the fail message)
CROSS_FIELD_FAILURES = {
    "hpa-min-greater-than-max": (
        {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}},
        "autoscaling.minReplicas (5) must not be greater than autoscaling.maxReplicas (3)",
    ),
    "hpa-without-metric": (
        {"autoscaling": {"targetCPUUtilizationPercentage": None}},
        "autoscaling.enabled needs a metric",
    ),
    "grace-shorter-than-prestop-plus-graceful": (
        {"terminationGracePeriodSeconds": 25},
        "terminationGracePeriodSeconds (25) must be at least lifecycle.preStopSleepSeconds (15)"
        " + server.gracefulTimeout (20) + 5 s margin = 40",
    ),
    "receive-timeout-not-below-the-liveness-budget": (
        {"server": {"receiveTimeout": 30}},
        "server.receiveTimeout (30) must be less than the liveness probe's budget"
        " (probes.liveness.periodSeconds x failureThreshold = 30 s)",
    ),
    "keepalive-not-above-alb-idle": (
        {"server": {"keepalive": 60}},
        "server.keepalive (60) must be greater than the ALB idle timeout"
        " (ingress.idleTimeoutSeconds, 60 s)",
    ),
    "keepalive-not-above-a-longer-alb-idle": (
        {"ingress": {"idleTimeoutSeconds": 120}},
        "server.keepalive (75) must be greater than the ALB idle timeout"
        " (ingress.idleTimeoutSeconds, 120 s)",
    ),
    "https-redirect-without-certificate": (
        {"ingress": {"enabled": True, "tls": {"sslRedirect": True}}},
        "ingress.tls.sslRedirect needs ingress.tls.certificateArn",
    ),
    "prod-without-certificate": (
        {"_files": [PROD_VALUES]},
        "ingress.tls.sslRedirect needs ingress.tls.certificateArn",
    ),
    "alb-health-check-timeout-not-below-interval": (
        {"ingress": {"enabled": True, "healthCheck": {"intervalSeconds": 5, "timeoutSeconds": 5}}},
        "ingress.healthCheck.timeoutSeconds (5) must be less than"
        " ingress.healthCheck.intervalSeconds (5)",
    ),
    "min-ready-shorter-than-alb-registration": (
        {"ingress": {"enabled": True}, "rollout": {"minReadySeconds": 5}},
        "rollout.minReadySeconds (5) must be at least ingress.healthCheck.healthyThresholdCount (2)"
        " x intervalSeconds (5) + 10 s target registration = 20",
    ),
    "min-ready-shorter-than-slower-health-checks": (
        {"ingress": {"enabled": True, "healthCheck": {"intervalSeconds": 10,
                                                      "healthyThresholdCount": 3}}},
        "rollout.minReadySeconds (30) must be at least ingress.healthCheck.healthyThresholdCount (3)"
        " x intervalSeconds (10) + 10 s target registration = 40",
    ),
    "prestop-shorter-than-alb-deregistration": (
        {"ingress": {"enabled": True, "deregistrationDelaySeconds": 25},
         "lifecycle": {"preStopSleepSeconds": 5}},
        "lifecycle.preStopSleepSeconds (5) must be at least 10 s with the Ingress on",
    ),
    "deregistration-delay-shorter-than-drain": (
        {"ingress": {"enabled": True, "deregistrationDelaySeconds": 30}},
        "ingress.deregistrationDelaySeconds (30) must be at least lifecycle.preStopSleepSeconds (15)"
        " + server.gracefulTimeout (20) = 35",
    ),
    "metrics-port-equals-http-port": (
        {"containerPorts": {"http": 8000, "metrics": 8000}},
        "containerPorts.metrics (8000) must differ from containerPorts.http",
    ),
    "pdb-both-set": (
        {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}},
        "set exactly one of minAvailable and maxUnavailable",
    ),
    "pdb-neither-set": (
        {"podDisruptionBudget": {"minAvailable": None, "maxUnavailable": None}},
        "set exactly one of minAvailable and maxUnavailable",
    ),
    "pdb-minAvailable-blocks-drains": (
        {"podDisruptionBudget": {"minAvailable": 2, "maxUnavailable": None}},
        "podDisruptionBudget.minAvailable (2) must be less than the lowest replica count (2)",
    ),
    "pdb-minAvailable-100-percent": (
        {"podDisruptionBudget": {"minAvailable": "100%", "maxUnavailable": None}},
        "podDisruptionBudget.minAvailable 100%",
    ),
    "scrape-timeout-over-interval": (
        {"serviceMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "1m"}},
        "serviceMonitor.scrapeTimeout (1m) must not exceed serviceMonitor.interval (15s)",
    ),
    "httproute-without-parent": (
        {"httpRoute": {"enabled": True}},
        "httpRoute.enabled needs at least one httpRoute.parentRefs entry",
    ),
    "ingress-exposes-metrics": (
        {"ingress": {"enabled": True},
         "publicPaths": [{"path": "/users", "pathType": "Exact"},
                         {"path": "/metrics", "pathType": "Exact"}]},
        'publicPaths: "/metrics" would expose an internal endpoint',
    ),
    "httproute-exposes-everything": (
        {"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]},
         "publicPaths": [{"path": "/", "pathType": "Prefix"}]},
        'publicPaths: "/" would expose an internal endpoint',
    ),
    "irsa-with-prefix-list-egress": (
        {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}},
         "networkPolicy": {"enabled": True, "egress": {"awsCidrs": ["52.94.0.0/22"]}}},
        "networkPolicy.egress.awsCidrs and an IRSA role annotation do not go together",
    ),
    "sweep-runs-as-the-web-service-account": (
        {"sweep": {"serviceAccount": {"name": "users-api"}}},
        "sweep.serviceAccount.name (users-api) must differ from serviceAccount.name",
    ),
    "keda-and-hpa": (
        {"keda": {"enabled": True}},
        "keda.enabled (true) and autoscaling.enabled cannot both be on",
    ),
    "keda-auto-and-hpa": (
        {"keda": {"enabled": "auto"}},
        "keda.enabled (auto) and autoscaling.enabled cannot both be on",
    ),
    "emulator-endpoint-with-network-policy": (
        {"config": {"awsEndpointUrl": "http://localstack:4566"},
         "networkPolicy": {"enabled": True}},
        "config.awsEndpointUrl (an emulator) and networkPolicy.enabled do not go together",
    ),
}


@pytest.fixture(scope="module")
def rejected(helm):
    cases = {f"schema:{k}": v[0] for k, v in SCHEMA_REJECTIONS.items()}
    cases |= {f"fail:{k}": v[0] for k, v in CROSS_FIELD_FAILURES.items()}
    cases["fail:internal-paths-fine-when-not-exposed"] = {
        "publicPaths": [{"path": "/metrics", "pathType": "Exact"}]
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(helm.template, values) for key, values in cases.items()}
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize("case", sorted(SCHEMA_REJECTIONS))
def test_schema_rejects(rejected, case):
    _, pointer, fragment = SCHEMA_REJECTIONS[case]
    render = rejected[f"schema:{case}"]
    assert render.returncode != 0, f"{case} rendered but should be rejected"
    assert SCHEMA_ERROR in render.stderr, render.stderr
    assert f"at '{pointer}'" in render.stderr, render.stderr
    assert fragment in render.stderr, render.stderr


@pytest.mark.parametrize("case", sorted(CROSS_FIELD_FAILURES))
def test_cross_field_rule_fails_the_render(rejected, case):
    _, message = CROSS_FIELD_FAILURES[case]
    render = rejected[f"fail:{case}"]
    assert render.returncode != 0, f"{case} rendered but should fail"
    assert SCHEMA_ERROR not in render.stderr, "expected the template's fail, not the schema"
    assert "execution error" in render.stderr and message in render.stderr, render.stderr


def test_internal_paths_only_refused_when_exposed(rejected):
    render = rejected["fail:internal-paths-fine-when-not-exposed"]
    assert render.returncode == 0, render.stderr


def test_valid_irsa_annotation_accepted(helm):
    assert helm.rendered("irsa").one("ServiceAccount", "api")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": ROLE_ARN
    }
