##@ AWS (cdk/README.md)
# The serverless target (issue 14): the same app as a Lambda function behind API Gateway.
# Included by the top-level Makefile after cdk/cdk.mk (CDK_DIR, CDK_ENV, CDK_ENV_VARS). See
# cdk/README.md, "Serverless target".
#
#   make serverless-bundle           build the function's code into cdk/build/serverless-bundle
#   make serverless-plan             print what deploy-serverless runs
#   make deploy-serverless           bundle -> cdk deploy users-api-<env>-serverless -> /healthz
#   make serverless-destroy-plan     print what destroy-serverless runs
#   make destroy-serverless          delete users-api-<env>-serverless (data and CDN stay)
#
# Inputs: CDK_ENV (dev|prod), AWS_REGION (deploy/destroy), SERVERLESS_ARCH (arm64|x86_64),
# SERVERLESS_RESERVED_CONCURRENCY (optional) -- see cdk/users_api_infra/serverless_flow.py.

SERVERLESS_ARCH ?= arm64
SERVERLESS_FLOW := $(CDK_ENV_VARS) CDK_ENV=$(CDK_ENV) SERVERLESS_ARCH=$(SERVERLESS_ARCH) \
  PYTHONPATH=$(CDK_DIR) $(abspath $(PY)) -m users_api_infra.serverless_flow

export SERVERLESS_RESERVED_CONCURRENCY

.PHONY: serverless-bundle serverless-plan deploy-serverless serverless-destroy-plan destroy-serverless \
  serverless-cold-import serverless-test

serverless-bundle: venv ## Build the Lambda function's code (app + locked manylinux wheels, no Docker) into cdk/build/serverless-bundle
	$(PY) api/devtools/lambda_bundle.py --out $(CDK_DIR)/build/serverless-bundle --arch $(SERVERLESS_ARCH)

serverless-plan: venv ## Print every command of deploy-serverless without running it
	@$(SERVERLESS_FLOW) plan

deploy-serverless: venv cdk-install ## Deploy the serverless target of CDK_ENV: bundle, cdk deploy users-api-<env>-serverless, check /healthz (needs AWS, AWS_REGION)
	$(SERVERLESS_FLOW) deploy

serverless-destroy-plan: venv ## Print what destroy-serverless runs
	@$(SERVERLESS_FLOW) destroy-plan

destroy-serverless: venv ## Delete users-api-<env>-serverless only (the table, bucket and CDN stay; needs AWS, AWS_REGION)
	$(SERVERLESS_FLOW) destroy

serverless-cold-import: venv ## Time the handler's cold import and first set-up in fresh processes (RUNS=8)
	$(PY) api/devtools/cold_import.py --runs $(or $(RUNS),8)

serverless-test: venv ## Run only the serverless target's tests (tests/serverless, and tests/e2e/test_api.py over the Lambda transport)
	$(LOCAL_REGION) $(PY) -m pytest tests/serverless tests/e2e/test_api.py -k "lambda or not test_api" $(PYTEST_ARGS)
