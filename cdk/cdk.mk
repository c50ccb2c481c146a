# AWS CDK app (cdk/) and the deploy flow (cdk/deploy/). Included by the top-level Makefile, which
# defines PY, VENV, BIN and the `venv` target. cdk/README.md describes the stacks; the deploy
# flow's steps, inputs and checks are in cdk/deploy/ (python -m deploy --help).
#
#   make synth                    dev + prod templates in cdk/cdk.out/{dev,prod} (offline, no credentials)
#   make cdk-bootstrap            once per AWS account/region, before the first deploy
#   make deploy-plan              print the whole deploy flow without running it
#   make deploy CDK_ENV=prod      preflight -> cdk deploy -> build + push image -> helm upgrade -> public check
#   make destroy-plan / destroy   helm uninstall -> cdk destroy (outputs read from CloudFormation)
#
# Inputs for the AWS targets (environment or make variables): CDK_ENV (dev|prod), AWS_REGION,
# IMAGE_TAG, CONTAINER_ENGINE, ADMIN_PRINCIPAL_ARN, API_ALLOWED_CIDRS, CERTIFICATE_ARN,
# API_HOSTNAME, REPOSITORY_NAME, NON_INTERACTIVE -- see cdk/deploy/inputs.py.
#
# The AWS targets take the region you chose (AWS_REGION, AWS_DEFAULT_REGION or your profile's)
# and never the emulator default the top-level Makefile gives the local targets: when AWS_REGION
# comes from that default (origin "file"), it is removed from their environment.

CDK_DIR := cdk
CDK_ENV ?= dev
CDK_ENVS := dev prod
# The npm-pinned CLI (cdk/package.json + package-lock.json), run with the repo's venv Python.
CDK_CLI := npx --no-install cdk
CDK_APP := ../$(PY) app.py
# The CLI always hands the app CDK_DEFAULT_REGION (us-east-1 when it finds no region) and, with
# credentials, CDK_DEFAULT_ACCOUNT; the app would bake them into ARNs. The offline synth strips
# them inside the app's own command, so its templates stay environment-agnostic.
CDK_AGNOSTIC_APP := env -u CDK_DEFAULT_ACCOUNT -u CDK_DEFAULT_REGION $(CDK_APP)
# No telemetry, no update/notice checks, no instance-metadata probing: synth stays offline.
CDK_ENV_VARS := CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true \
  JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 AWS_EC2_METADATA_DISABLED=true \
  npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
AWS_REGION_CHOSEN := $(if $(filter file,$(origin AWS_REGION)),,$(AWS_REGION))
AWS_TARGET_ENV := env -u AWS_REGION $(if $(AWS_REGION_CHOSEN),AWS_REGION=$(AWS_REGION_CHOSEN))
# helm 4 and kubectl: `make tools` puts them in .venv/bin, which goes first on PATH here.
DEPLOY := $(AWS_TARGET_ENV) $(CDK_ENV_VARS) CDK_ENV=$(CDK_ENV) PYTHONPATH=$(CDK_DIR):. \
  PATH="$(abspath $(BIN)):$$PATH" $(PY) -m deploy

export ADMIN_PRINCIPAL_ARN API_ALLOWED_CIDRS CERTIFICATE_ARN API_HOSTNAME REPOSITORY_NAME IMAGE_TAG \
  CONTAINER_ENGINE NON_INTERACTIVE

.PHONY: cdk-install cdk-bootstrap synth cdk-lint cdk-test cdk-diff deploy-synth deploy-preflight \
  deploy-plan deploy destroy-plan destroy

$(CDK_DIR)/node_modules/.package-lock.json: $(CDK_DIR)/package-lock.json
	cd $(CDK_DIR) && $(CDK_ENV_VARS) npm ci --no-audit --no-fund

cdk-install: $(CDK_DIR)/node_modules/.package-lock.json ## Install the pinned AWS CDK CLI (npm ci in cdk/)

synth: venv cdk-install ## Synthesize dev and prod templates into cdk/cdk.out/{dev,prod} (offline: --no-lookups, no credentials)
	@for env in $(CDK_ENVS); do \
	  echo "cdk synth -c env=$$env -> $(CDK_DIR)/cdk.out/$$env"; \
	  (cd $(CDK_DIR) && $(CDK_ENV_VARS) \
	    $(CDK_CLI) synth --quiet --no-lookups --no-notices --app '$(CDK_AGNOSTIC_APP)' \
	    --output cdk.out/$$env -c env=$$env) || exit $$?; \
	done
	@ls -1 $(CDK_DIR)/cdk.out/*/*.template.json

cdk-lint: venv ## cfn-lint the templates written by `make synth` (ignored rules and reasons: cdk/users_api_infra/lint.py)
	PYTHONPATH=$(CDK_DIR) $(PY) -m users_api_infra.lint $(addprefix $(CDK_DIR)/cdk.out/,$(CDK_ENVS))

cdk-test: venv ## Run only the CDK tests (tests/cdk): assertions, cdk-nag, cfn-lint, app contract
	$(PY) -m pytest tests/cdk $(PYTEST_ARGS)

cdk-bootstrap: venv cdk-install ## Once per AWS account+region: cdk bootstrap (checks region and credentials first)
	$(DEPLOY) cdk bootstrap

cdk-diff: venv cdk-install ## Show what `make deploy` would change in AWS (region and credentials checked; CDK_ENV=dev|prod)
	$(DEPLOY) cdk diff

deploy-synth: venv cdk-install ## Synthesize CDK_ENV for your account and region into cdk/cdk.out/<env> (what cdk deploy deploys)
	$(DEPLOY) cdk synth

deploy-plan: venv ## Print every step of the deploy flow without running it (live values when AWS is readable)
	@$(DEPLOY) plan

deploy-preflight: venv ## Run only the deploy's checks: region, credentials, AWS CLI, Helm 4, kubectl, container engine, CDK bootstrap
	$(DEPLOY) preflight

deploy: venv cdk-install ## Deploy CDK_ENV (default dev): preflight, cdk deploy, image build+push, helm upgrade, public URL check
	$(DEPLOY) run

destroy-plan: venv ## Print the teardown steps (helm uninstall, cdk destroy) without running them
	@$(DEPLOY) destroy-plan

destroy: venv cdk-install ## Tear CDK_ENV down (outputs from CloudFormation): helm uninstall, then cdk destroy (prod keeps its data)
	$(DEPLOY) destroy
