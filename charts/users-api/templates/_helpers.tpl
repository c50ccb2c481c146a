{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "users-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object: the release name if it already contains the chart name
(release "users-api" -> "users-api"), else "<release>-<chart>".
*/}}
{{- define "users-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "users-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of the API pods. Immutable on a Deployment: never add to them.
The component label keeps the helm test pod out of the Service.
*/}}
{{- define "users-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "users-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{/*
Standard app.kubernetes.io labels on every object (without the component, which each object sets).
*/}}
{{- define "users-api.commonLabels" -}}
helm.sh/chart: {{ include "users-api.chart" . }}
app.kubernetes.io/name: {{ include "users-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ regexReplaceAll "[^A-Za-z0-9]+$" (include "users-api.imageTag" . | trunc 63) "" | quote }}
app.kubernetes.io/part-of: users-api
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels of the API objects.
*/}}
{{- define "users-api.labels" -}}
{{ include "users-api.commonLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{/*
ServiceAccount name. Fixed by value (default "users-api"), not derived from the release, because
the CDK app's Pod Identity association names it.
*/}}
{{- define "users-api.serviceAccountName" -}}
{{- .Values.serviceAccount.name }}
{{- end }}

{{/*
The orphan sweep's own ServiceAccount (never the web pods'): the CDK app binds the sweep's IAM role
to system:serviceaccount:<namespace>:<sweep.serviceAccount.name>.
*/}}
{{- define "users-api.sweepServiceAccountName" -}}
{{- .Values.sweep.serviceAccount.name }}
{{- end }}

{{/*
Selector labels of the sweep's pods: the component keeps them out of the Service, the PDB and the
API pods' NetworkPolicy.
*/}}
{{- define "users-api.sweepSelectorLabels" -}}
app.kubernetes.io/name: {{ include "users-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: sweep
{{- end }}

{{- define "users-api.sweepLabels" -}}
{{ include "users-api.commonLabels" . }}
app.kubernetes.io/component: sweep
{{- end }}

{{/*
Egress of every pod that calls AWS (the API and the sweep): DNS, HTTPS to the AWS APIs, the EKS
Pod Identity agent. Nothing else.
*/}}
{{- define "users-api.egressRules" -}}
{{- $egress := .Values.networkPolicy.egress -}}
# DNS: port 53 only. Any address by default: on EKS Auto Mode the resolver runs on each node, not
# as kube-dns pods that a podSelector could name.
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $egress.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- if $egress.awsCidrs }}
# HTTPS to DynamoDB and S3 only: the CIDRs of their gateway endpoints' prefix lists.
- to:
    {{- range $egress.awsCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: 443
      protocol: TCP
{{- else }}
# HTTPS to any address: a NetworkPolicy cannot name a gateway endpoint or a DNS name, and no CIDRs
# were given (networkPolicy.egress.awsCidrs). Port 443 only.
- ports:
    - port: 443
      protocol: TCP
{{- end }}
{{- if $egress.podIdentityAgent }}
# EKS Pod Identity agent on the node (the pod's AWS credentials), IPv4 and IPv6.
- to:
    - ipBlock:
        cidr: 169.254.170.23/32
    - ipBlock:
        cidr: fd00:ec2::23/128
  ports:
    - port: 80
      protocol: TCP
{{- end }}
{{- end }}

{{/*
Image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "users-api.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "users-api.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "users-api.imageTag" .) }}
{{- end }}

{{/*
True ("true") when more than one API pod can exist.
*/}}
{{- define "users-api.multiReplica" -}}
{{- if include "users-api.kedaEnabled" . }}
{{- if gt (int .Values.keda.maxReplicas) 1 }}true{{ end }}
{{- else if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.maxReplicas) 1 }}true{{ end }}
{{- else }}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The API paths the Ingress and HTTPRoute may route. /metrics, /healthz and /readyz are internal.
*/}}
{{- define "users-api.checkPublicPaths" -}}
{{- range .Values.publicPaths }}
{{- if or (eq .path "/") (hasPrefix "/metrics" .path) (hasPrefix "/healthz" .path) (hasPrefix "/readyz" .path) }}
{{- fail (printf "publicPaths: %q would expose an internal endpoint (/metrics, /healthz, /readyz) through the load balancer; route only the public API paths" .path) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Cross-field rules that JSON Schema cannot express. Included from every template that depends on
them (the Deployment always renders), so any violation fails the whole render.
*/}}
{{- define "users-api.validate" -}}
{{- $a := .Values.autoscaling }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not be greater than autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if and (kindIs "invalid" $a.targetCPUUtilizationPercentage) (kindIs "invalid" $a.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs a metric: set autoscaling.targetCPUUtilizationPercentage and/or autoscaling.targetMemoryUtilizationPercentage" }}
{{- end }}
{{- end }}
{{- if eq (int .Values.containerPorts.http) (int .Values.containerPorts.metrics) }}
{{- fail (printf "containerPorts.metrics (%d) must differ from containerPorts.http: /metrics has a port of its own" (int .Values.containerPorts.metrics)) }}
{{- end }}
{{- $minGrace := add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.server.gracefulTimeout) 5 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $minGrace) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least lifecycle.preStopSleepSeconds (%d) + server.gracefulTimeout (%d) + 5 s margin = %d, or in-flight requests are killed on shutdown" (int .Values.terminationGracePeriodSeconds) (int .Values.lifecycle.preStopSleepSeconds) (int .Values.server.gracefulTimeout) (int $minGrace)) }}
{{- end }}
{{- $liveness := mul (int .Values.probes.liveness.periodSeconds) (int .Values.probes.liveness.failureThreshold) }}
{{- if ge (int .Values.server.receiveTimeout) (int $liveness) }}
{{- fail (printf "server.receiveTimeout (%d) must be less than the liveness probe's budget (probes.liveness.periodSeconds x failureThreshold = %d s), or clients holding every connection slot get the pod restarted" (int .Values.server.receiveTimeout) (int $liveness)) }}
{{- end }}
{{- if le (int .Values.server.keepalive) (int .Values.ingress.idleTimeoutSeconds) }}
{{- fail (printf "server.keepalive (%d) must be greater than the ALB idle timeout (ingress.idleTimeoutSeconds, %d s), or idle connections produce 502s" (int .Values.server.keepalive) (int .Values.ingress.idleTimeoutSeconds)) }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- include "users-api.validateAlb" . }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- if eq (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other null)" }}
{{- end }}
{{- if eq (toString $pdb.minAvailable) "100%" }}
{{- fail "podDisruptionBudget.minAvailable 100% means no pod can ever be evicted and node drains hang; use a lower value" }}
{{- end }}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "string" $pdb.minAvailable)) }}
{{- $floor := ternary (int $a.minReplicas) (int .Values.replicaCount) (eq $a.enabled true) }}
{{- if ge (int $pdb.minAvailable) $floor }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be less than the lowest replica count (%d), or no pod can ever be evicted and node drains hang" (int $pdb.minAvailable) $floor) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.serviceMonitor.enabled }}
{{- if gt (include "users-api.durationSeconds" .Values.serviceMonitor.scrapeTimeout | int) (include "users-api.durationSeconds" .Values.serviceMonitor.interval | int) }}
{{- fail (printf "serviceMonitor.scrapeTimeout (%s) must not exceed serviceMonitor.interval (%s)" .Values.serviceMonitor.scrapeTimeout .Values.serviceMonitor.interval) }}
{{- end }}
{{- end }}
{{- if and .Values.httpRoute.enabled (empty .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs at least one httpRoute.parentRefs entry (the Gateway to attach to)" }}
{{- end }}
{{- if or .Values.ingress.enabled .Values.httpRoute.enabled }}
{{- include "users-api.checkPublicPaths" . }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.networkPolicy.egress.awsCidrs }}
{{- if or (hasKey .Values.serviceAccount.annotations "eks.amazonaws.com/role-arn") (hasKey .Values.sweep.serviceAccount.annotations "eks.amazonaws.com/role-arn") }}
{{- fail "networkPolicy.egress.awsCidrs and an IRSA role annotation do not go together: IRSA fetches credentials from STS over HTTPS, which has no prefix list; use EKS Pod Identity, or leave awsCidrs empty" }}
{{- end }}
{{- end }}
{{- if .Values.sweep.enabled }}
{{- if eq .Values.sweep.serviceAccount.name .Values.serviceAccount.name }}
{{- fail (printf "sweep.serviceAccount.name (%s) must differ from serviceAccount.name: the web pods' service account does not get the sweep's delete permissions" .Values.sweep.serviceAccount.name) }}
{{- end }}
{{- end }}
{{- if and .Values.config.awsEndpointUrl .Values.networkPolicy.enabled }}
{{- fail "config.awsEndpointUrl (an emulator) and networkPolicy.enabled do not go together: the policy only allows HTTPS to AWS" }}
{{- end }}
{{- end }}

{{/*
Seconds the load balancer controller is allowed to react to an endpoint change: to register a new
pod's IP as a target, or to start deregistering a leaving one. The rollout arithmetic in the README
("Rollouts behind the ALB") rests on it.
*/}}
{{- define "users-api.albReactionSeconds" -}}10{{- end }}

{{/*
Rules of the ALB Ingress: HTTPS needs a certificate, and the rollout timing adds up so that a rollout
never drops serving capacity behind the load balancer.
*/}}
{{- define "users-api.validateAlb" -}}
{{- $ing := .Values.ingress }}
{{- $hc := $ing.healthCheck }}
{{- $react := include "users-api.albReactionSeconds" . | int }}
{{- if and $ing.tls.sslRedirect (not $ing.tls.certificateArn) }}
{{- fail "ingress.tls.sslRedirect needs ingress.tls.certificateArn: without a certificate there is no HTTPS listener to redirect to; set the ACM certificate ARN, or sslRedirect=false to serve HTTP only" }}
{{- end }}
{{- if ge (int $hc.timeoutSeconds) (int $hc.intervalSeconds) }}
{{- fail (printf "ingress.healthCheck.timeoutSeconds (%d) must be less than ingress.healthCheck.intervalSeconds (%d)" (int $hc.timeoutSeconds) (int $hc.intervalSeconds)) }}
{{- end }}
{{- $healthyAfter := add (mul (int $hc.healthyThresholdCount) (int $hc.intervalSeconds)) $react }}
{{- if lt (int .Values.rollout.minReadySeconds) (int $healthyAfter) }}
{{- fail (printf "rollout.minReadySeconds (%d) must be at least ingress.healthCheck.healthyThresholdCount (%d) x intervalSeconds (%d) + %d s target registration = %d, or old pods go before the ALB sends traffic to the new ones" (int .Values.rollout.minReadySeconds) (int $hc.healthyThresholdCount) (int $hc.intervalSeconds) $react (int $healthyAfter)) }}
{{- end }}
{{- if lt (int .Values.lifecycle.preStopSleepSeconds) $react }}
{{- fail (printf "lifecycle.preStopSleepSeconds (%d) must be at least %d s with the Ingress on: the ALB keeps sending new requests until the controller has deregistered the pod" (int .Values.lifecycle.preStopSleepSeconds) $react) }}
{{- end }}
{{- $drain := add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.server.gracefulTimeout) }}
{{- if lt (int $ing.deregistrationDelaySeconds) (int $drain) }}
{{- fail (printf "ingress.deregistrationDelaySeconds (%d) must be at least lifecycle.preStopSleepSeconds (%d) + server.gracefulTimeout (%d) = %d, or the ALB cuts requests the pod is still finishing" (int $ing.deregistrationDelaySeconds) (int .Values.lifecycle.preStopSleepSeconds) (int .Values.server.gracefulTimeout) (int $drain)) }}
{{- end }}
{{- end }}

{{/*
Seconds in a Prometheus duration made of one unit (30s, 1m, 2h). Used for interval checks.
*/}}
{{- define "users-api.durationSeconds" -}}
{{- $d := toString . }}
{{- $n := regexFind "^[0-9]+" $d | int }}
{{- $unit := regexFind "[a-z]+$" $d }}
{{- if eq $unit "ms" }}0
{{- else if eq $unit "s" }}{{ $n }}
{{- else if eq $unit "m" }}{{ mul $n 60 }}
{{- else if eq $unit "h" }}{{ mul $n 3600 }}
{{- else }}{{ $n }}
{{- end }}
{{- end }}

{{/*
"true" when an object gated by an `auto | true | false` value renders. Call with
(list <value> "<group/version>" $): "auto" renders only when the cluster serves that API
(.Capabilities.APIVersions; `helm template --api-versions` in tests).
*/}}
{{- define "users-api.gate" -}}
{{- $setting := toString (index . 0) }}
{{- $api := index . 1 }}
{{- $root := index . 2 }}
{{- if eq $setting "true" }}true
{{- else if and (eq $setting "auto") ($root.Capabilities.APIVersions.Has $api) }}true
{{- end }}
{{- end }}

{{- define "users-api.serviceMonitorEnabled" -}}
{{- include "users-api.gate" (list .Values.serviceMonitor.enabled "monitoring.coreos.com/v1" .) }}
{{- end }}

{{- define "users-api.prometheusRuleEnabled" -}}
{{- include "users-api.gate" (list .Values.prometheusRule.enabled "monitoring.coreos.com/v1" .) }}
{{- end }}

{{/*
The dashboard ConfigMap needs no CRD; "auto" follows the Prometheus Operator's API, the sign of a
monitoring stack whose Grafana runs the dashboard sidecar.
*/}}
{{- define "users-api.dashboardEnabled" -}}
{{- include "users-api.gate" (list .Values.dashboard.enabled "monitoring.coreos.com/v1" .) }}
{{- end }}

{{- define "users-api.kedaEnabled" -}}
{{- include "users-api.gate" (list .Values.keda.enabled "keda.sh/v1alpha1" .) }}
{{- end }}

{{/*
KEDA (its own HPA) and the chart's HPA must never both scale the Deployment. Checked on the
setting, not on the cluster: keda.enabled "auto" with the HPA on fails everywhere, so a render
that passes in CI cannot fail on a cluster that has KEDA.
*/}}
{{- define "users-api.validateScaling" -}}
{{- if and (ne (toString .Values.keda.enabled) "false") .Values.autoscaling.enabled }}
{{- fail (printf "keda.enabled (%v) and autoscaling.enabled cannot both be on: KEDA creates its own HPA for the Deployment and the two would fight over the replica count; set autoscaling.enabled=false to scale with KEDA" .Values.keda.enabled) }}
{{- end }}
{{- if gt (int .Values.keda.minReplicas) (int .Values.keda.maxReplicas) }}
{{- fail (printf "keda.minReplicas (%d) must not be greater than keda.maxReplicas (%d)" (int .Values.keda.minReplicas) (int .Values.keda.maxReplicas)) }}
{{- end }}
{{- end }}
