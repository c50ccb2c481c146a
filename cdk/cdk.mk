##@ AWS (cdk/README.md)
# AWS CDK app (issue 4): cdk/. Included by the top-level Makefile, which defines PY, VENV, BIN
# and the `venv` target. See cdk/README.md for the stacks and their security choices.
#
#   make synth                    dev + prod templates in cdk/cdk.out/{dev,prod} (offline, no credentials)
#   make cdk-bootstrap            once per AWS account/region, before the first deploy
#   make deploy-plan              print the whole deploy flow without running it
#   make deploy CDK_ENV=prod      cdk deploy -> build + push image -> helm upgrade --install
#   make destroy-plan / destroy   helm uninstall -> cdk destroy
#
# Inputs for deploy/destroy (environment or make variables): CDK_ENV (dev|prod), IMAGE_TAG,
# CONTAINER_ENGINE (docker|podman), ADMIN_PRINCIPAL_ARN, API_ALLOWED_CIDRS, CERTIFICATE_ARN,
# REPOSITORY_NAME -- see cdk/users_api_infra/deploy_flow.py.

CDK_DIR := cdk
CDK_ENV ?= dev
CDK_ENVS := dev prod
# The npm-pinned CLI (cdk/package.json + package-lock.json), run with the repo's venv Python.
CDK_CLI := npx --no-install cdk
CDK_APP := ../$(PY) app.py
# No telemetry, no update/notice checks, no instance-metadata probing: synth stays offline.
CDK_ENV_VARS := CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true \
  JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 AWS_EC2_METADATA_DISABLED=true \
  npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# helm 4 and kubectl: `make tools` puts them in .venv/bin, which goes first on PATH here.
CDK_FLOW := $(CDK_ENV_VARS) CDK_ENV=$(CDK_ENV) PYTHONPATH=$(CDK_DIR) PATH="$(abspath $(BIN)):$$PATH" \
  $(PY) -m users_api_infra.deploy_flow

export ADMIN_PRINCIPAL_ARN API_ALLOWED_CIDRS CERTIFICATE_ARN REPOSITORY_NAME IMAGE_TAG CONTAINER_ENGINE

.PHONY: cdk-install cdk-bootstrap synth cdk-lint cdk-test cdk-diff deploy-plan deploy destroy-plan destroy

$(CDK_DIR)/node_modules/.package-lock.json: $(CDK_DIR)/package-lock.json
	cd $(CDK_DIR) && $(CDK_ENV_VARS) npm ci --no-audit --no-fund

cdk-install: $(CDK_DIR)/node_modules/.package-lock.json ## Install the pinned AWS CDK CLI (npm ci in cdk/)

synth: venv cdk-install ## Synthesize dev and prod templates into cdk/cdk.out/{dev,prod} (offline: --no-lookups, no credentials)
	@for env in $(CDK_ENVS); do \
	  echo "cdk synth -c env=$$env -> $(CDK_DIR)/cdk.out/$$env"; \
	  (cd $(CDK_DIR) && env -u CDK_DEFAULT_ACCOUNT -u CDK_DEFAULT_REGION $(CDK_ENV_VARS) \
	    $(CDK_CLI) synth --quiet --no-lookups --no-notices --app '$(CDK_APP)' \
	    --output cdk.out/$$env -c env=$$env) || exit $$?; \
	done
	@ls -1 $(CDK_DIR)/cdk.out/*/*.template.json

cdk-lint: venv ## cfn-lint the templates written by `make synth` (ignored rules and reasons: cdk/users_api_infra/lint.py)
	PYTHONPATH=$(CDK_DIR) $(PY) -m users_api_infra.lint $(addprefix $(CDK_DIR)/cdk.out/,$(CDK_ENVS))

cdk-test: venv ## Run only the CDK tests (tests/cdk): assertions, cdk-nag, cfn-lint, app contract
	$(PY) -m pytest tests/cdk $(PYTEST_ARGS)

cdk-bootstrap: venv cdk-install ## One-time per AWS account+region: cdk bootstrap (the account/region of your AWS profile)
	cd $(CDK_DIR) && $(CDK_ENV_VARS) $(CDK_CLI) bootstrap --no-notices --app '$(CDK_APP)' -c env=$(CDK_ENV)

cdk-diff: venv cdk-install ## Show what `make deploy` would change in AWS (needs AWS credentials; CDK_ENV=dev|prod)
	cd $(CDK_DIR) && $(CDK_ENV_VARS) $(CDK_CLI) diff --all --no-notices --app '$(CDK_APP)' \
	  --output cdk.out/$(CDK_ENV) -c env=$(CDK_ENV)

deploy-plan: venv ## Print every command of the deploy flow (cdk deploy, image build+push, helm upgrade) without running it
	@$(CDK_FLOW) plan

deploy: venv cdk-install ## Deploy CDK_ENV (default dev): cdk deploy -> build+push image to ECR -> helm upgrade --install (needs AWS, Docker, helm, kubectl)
	$(CDK_FLOW) run

destroy-plan: venv ## Print the teardown commands (helm uninstall, cdk destroy) without running them
	@$(CDK_FLOW) destroy-plan

destroy: venv cdk-install ## Tear CDK_ENV down: helm uninstall, then cdk destroy (prod keeps its data: RETAIN)
	$(CDK_FLOW) destroy
