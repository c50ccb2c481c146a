##@ LocalStack (localstack/README.md)
# LocalStack dev loop (for people with Docker, Terraform and tflocal); see localstack/README.md.
#   make localstack-up && make localstack-provision && eval "$(make -s localstack-env)" && make serve
# Included by the top-level Makefile, which defines PY, VENV and the `venv` target.

LOCALSTACK_DIR := localstack
LOCALSTACK_TF_DIR := $(LOCALSTACK_DIR)/terraform
LOCALSTACK_COMPOSE_FILE := $(LOCALSTACK_DIR)/compose.yaml
# Where tflocal reaches LocalStack. tflocal derives per-service host names from this one
# (localhost -> localhost.localstack.cloud where a subdomain is needed), hence `localhost`.
LOCALSTACK_URL ?= http://localhost:4566
DOCKER ?= docker
TFLOCAL ?= tflocal
TERRAFORM ?= terraform

# Compose and tflocal both print to stdout; keep every helper's chatter on stderr so that
# `eval "$(make -s localstack-env)"` only ever sees the export lines.
define _localstack_need
	@command -v $(firstword $(1)) >/dev/null 2>&1 || { \
	  printf '%s\n' "localstack: '$(firstword $(1))' was not found on PATH. $(2)" >&2; exit 127; }
endef

.PHONY: localstack-up localstack-provision localstack-env localstack-down localstack-status \
        _localstack-docker _localstack-tflocal _localstack-reachable

_localstack-docker:
	$(call _localstack_need,$(DOCKER),Install Docker (Engine or Desktop) with the compose plugin; the LocalStack loop needs it. Without Docker use 'make run' (embedded emulator).)
	@$(DOCKER) compose version >/dev/null 2>&1 || { \
	  echo "localstack: '$(DOCKER) compose' is not available: install the Docker Compose v2 plugin." >&2; exit 127; }
	@$(DOCKER) info >/dev/null 2>&1 || { \
	  echo "localstack: the docker client cannot reach a Docker engine (is the daemon running, and may you use it?)." >&2; \
	  echo "            Without Docker use 'make run' (embedded emulator)." >&2; exit 1; }

_localstack-tflocal:
	$(call _localstack_need,$(TERRAFORM),Install Terraform >= 1.6 (see localstack/terraform/versions.tf); tflocal calls it.)
	$(call _localstack_need,$(TFLOCAL),Install tflocal with 'pipx install terraform-local' (or pip install terraform-local).)

_localstack-reachable: venv
	@$(PY) -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/_localstack/health', timeout=3)" \
	  '$(LOCALSTACK_URL)' 2>/dev/null || { \
	  echo "localstack: nothing answers at $(LOCALSTACK_URL). Start it with 'make localstack-up'." >&2; exit 1; }

localstack-up: _localstack-docker ## Start LocalStack Community (pinned, s3/dynamodb/iam/sts) on 127.0.0.1:4566 and wait until healthy
	$(DOCKER) compose -f $(LOCALSTACK_COMPOSE_FILE) up --detach --wait
	@echo "LocalStack is healthy on 127.0.0.1:4566. Next: make localstack-provision" >&2

localstack-provision: _localstack-tflocal _localstack-reachable ## Create the table, bucket and app role in LocalStack with tflocal (init + apply; idempotent)
	@# A crashed tflocal run can leave its override file behind, and tflocal refuses to start then.
	@rm -f $(LOCALSTACK_TF_DIR)/localstack_providers_override.tf
	cd $(LOCALSTACK_TF_DIR) && AWS_ENDPOINT_URL='$(LOCALSTACK_URL)' S3_ENDPOINT='$(LOCALSTACK_URL)' \
	  $(TFLOCAL) init -input=false -no-color >&2
	cd $(LOCALSTACK_TF_DIR) && AWS_ENDPOINT_URL='$(LOCALSTACK_URL)' S3_ENDPOINT='$(LOCALSTACK_URL)' \
	  $(TFLOCAL) apply -input=false -auto-approve -no-color >&2
	@echo 'Provisioned. Next: eval "$$(make -s localstack-env)" && make serve' >&2

localstack-env: ## Print the app's environment for LocalStack as export lines: eval "$(make -s localstack-env)"
	$(call _localstack_need,$(TERRAFORM),Install Terraform >= 1.6.)
	@test -s $(LOCALSTACK_TF_DIR)/terraform.tfstate || { \
	  echo "localstack: nothing provisioned yet. Run 'make localstack-provision' first." >&2; exit 1; }
	@$(TERRAFORM) -chdir=$(LOCALSTACK_TF_DIR) output -raw env_exports && echo

localstack-status: _localstack-docker ## Show the LocalStack container and the state of its services
	$(DOCKER) compose -f $(LOCALSTACK_COMPOSE_FILE) ps
	@$(DOCKER) compose -f $(LOCALSTACK_COMPOSE_FILE) exec -T localstack \
	  curl -fsS http://127.0.0.1:4566/_localstack/health && echo || true

localstack-down: _localstack-docker ## Stop and remove LocalStack; Community keeps no data, so its Terraform state is removed too
	$(DOCKER) compose -f $(LOCALSTACK_COMPOSE_FILE) down --remove-orphans
	@# The resources died with the container; a state file describing them would only mislead.
	rm -f $(LOCALSTACK_TF_DIR)/terraform.tfstate $(LOCALSTACK_TF_DIR)/terraform.tfstate.backup
