# users-api: the one interface to every workflow. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# The embedded emulator listens where LocalStack does, so one AWS_ENDPOINT_URL serves both.
EMULATOR_HOST ?= 127.0.0.1
EMULATOR_PORT ?= 4566
# The dev-only avatar server `make run` starts (plays CloudFront's part).
AVATAR_PORT ?= 8001
# The emulator's region when AWS_REGION is unset. Only the local targets use it (run, test,
# emulator, image-run, and serve/sweep-orphans when AWS_ENDPOINT_URL is set): a target that
# talks to AWS itself takes AWS_REGION from you, with no silent default.
EMULATOR_REGION ?= us-east-1
LOCAL_REGION = AWS_REGION="$${AWS_REGION:-$(EMULATOR_REGION)}"

.PHONY: help venv lock run run-env serve emulator test lint sweep-orphans clean

help: ## List every target
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create .venv and install the locked runtime and dev dependencies

$(VENV)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

lock: venv ## Re-resolve requirements.lock (runtime) and requirements-dev.lock from pyproject.toml
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -q -o requirements-dev.lock

run: venv ## Start the embedded emulator, create the table and bucket, serve the API on http://127.0.0.1:8000
	$(LOCAL_REGION) $(PY) api/devtools/cli.py run-local --emulator-host $(EMULATOR_HOST) --emulator-port $(EMULATOR_PORT) --avatar-port $(AVATAR_PORT)

run-env: venv ## Print the exports that point another terminal at `make run`'s emulator: eval "$$(make -s run-env)"
	@$(LOCAL_REGION) $(PY) api/devtools/cli.py run-env --emulator-host $(EMULATOR_HOST) --emulator-port $(EMULATOR_PORT) --avatar-port $(AVATAR_PORT)

serve: venv ## Serve the API only, against whatever AWS_ENDPOINT_URL points at (or real AWS); creates nothing
	$(if $(AWS_ENDPOINT_URL),$(LOCAL_REGION)) $(PY) api/serve.py

emulator: venv ## Run only the embedded emulator (moto server) on 127.0.0.1:4566, in the foreground
	$(LOCAL_REGION) $(BIN)/moto_server -H $(EMULATOR_HOST) -p $(EMULATOR_PORT)

test: venv cdk-install tools ## Run the whole suite (installs the pinned CDK CLI, helm and kubectl; starts and stops the emulator and everything else it needs)
	$(LOCAL_REGION) $(PY) -m pytest $(PYTEST_ARGS)

lint: venv ## Lint the Python code with ruff
	$(BIN)/ruff check api cdk charts container tests

sweep-orphans: venv ## List avatar objects no user references (dry run); ARGS="--apply" deletes them
	$(if $(AWS_ENDPOINT_URL),$(LOCAL_REGION)) $(PY) api/manage.py sweep-orphans $(ARGS)

clean: ## Remove caches, build output and the virtualenv
	rm -rf $(VENV) .pytest_cache cdk/cdk.out .bench
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

-include cdk/cdk.mk cdk/serverless.mk charts/chart.mk container/container.mk localstack/localstack.mk tests/load/load.mk \
  tests/rehearsal/rehearsal.mk
