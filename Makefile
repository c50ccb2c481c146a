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

.PHONY: help venv venv-local lock run serve emulator test lint sweep-orphans clean run-env

##@ Run (api/README.md)

run: venv-local ## Start the embedded emulator, create the table and bucket, serve the API on http://127.0.0.1:8000
	$(LOCAL_REGION) $(PY) api/devtools/cli.py run-local --emulator-host $(EMULATOR_HOST) --emulator-port $(EMULATOR_PORT) --avatar-port $(AVATAR_PORT)

run-env: venv-local ## Print the exports that point another terminal at `make run`'s emulator: eval "$$(make -s run-env)"
	@$(LOCAL_REGION) $(PY) api/devtools/cli.py run-env --emulator-host $(EMULATOR_HOST) --emulator-port $(EMULATOR_PORT) --avatar-port $(AVATAR_PORT)

serve: venv-local ## Serve the API only, against whatever AWS_ENDPOINT_URL points at (or real AWS); creates nothing
	$(if $(AWS_ENDPOINT_URL),$(LOCAL_REGION)) $(PY) api/serve.py

emulator: venv-local ## Run only the embedded emulator (moto server) on 127.0.0.1:4566, in the foreground
	$(LOCAL_REGION) $(BIN)/moto_server -H $(EMULATOR_HOST) -p $(EMULATOR_PORT)

##@ Test (tests/README.md)

test: venv cdk-install tools ## Run the whole suite (installs the pinned CDK CLI, helm and kubectl; starts and stops the emulator and everything else it needs)
	$(LOCAL_REGION) $(PY) -m pytest $(PYTEST_ARGS)

lint: venv ## Lint the Python code with ruff
	$(BIN)/ruff check api cdk charts container tests

##@ Run (api/README.md)

sweep-orphans: venv-local ## List avatar objects no user references (dry run); ARGS="--apply" deletes them
	$(if $(AWS_ENDPOINT_URL),$(LOCAL_REGION)) $(PY) api/manage.py sweep-orphans $(ARGS)

##@ Setup (README.md)

# `make help`: targets grouped by the `##@ Area (its README)` line above them, areas in the order
# they first appear (this file first: Run and Test lead), targets in file order.
help: ## List every target, grouped by area
	@awk 'BEGIN {FS = ":.*## "} \
	  FNR == 1 {area = "Other (no ##@ line above them)"} \
	  /^##@ / {area = substr($$0, 5); if (!(area in seen)) {seen[area] = 1; order[++n] = area}; next} \
	  /^[a-zA-Z0-9_.-]+:.*## / {gsub(/[$$][$$]/, "$$", $$2); list[area] = list[area] sprintf("  \033[36m%-22s\033[0m %s\n", $$1, $$2)} \
	  END {for (i = 1; i <= n; i++) printf "%s\033[1m%s\033[0m\n%s", (i > 1 ? "\n" : ""), order[i], list[order[i]]}' \
	  $(MAKEFILE_LIST)

# One .venv, filled in two steps, each with its stamp: `make run` needs only the local lock
# (runtime + emulator, a cold install in seconds); the first target that needs the dev lock
# adds the rest to the same .venv. The dev lock holds every pin of the local lock (a test checks),
# so installing it also makes the local stamp current. uv installs both: pip only installs uv,
# checked against its hash in the local lock. A new .venv starts without pip when the system pip
# can install into it (`pip --python`), which saves ensurepip's 5-15 s; the locks bring pip.
$(VENV)/.uv: requirements-local.lock
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	awk '/^uv==/ {pin = 1; print; next} pin && /^ / {print; next} {pin = 0}' requirements-local.lock > $(VENV)/uv.txt
	if [ -x $(BIN)/pip ]; then pip="$(BIN)/pip"; \
	elif $(PYTHON) -m pip --python $(PY) --version >/dev/null 2>&1; then pip="$(PYTHON) -m pip --python $(PY)"; \
	else $(PY) -m ensurepip --upgrade --default-pip >/dev/null && pip="$(BIN)/pip"; fi; \
	$$pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r $(VENV)/uv.txt
	touch $@

$(VENV)/.installed-local: requirements-local.lock $(VENV)/.uv
	$(BIN)/uv pip install --quiet --python $(PY) --require-hashes -r requirements-local.lock
	touch $@

$(VENV)/.installed: requirements-dev.lock $(VENV)/.uv
	$(BIN)/uv pip install --quiet --python $(PY) --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.installed-local

venv-local: $(VENV)/.installed-local ## Create .venv with only the runtime and the emulator (what make run needs)

venv: $(VENV)/.installed ## Create .venv and install the locked runtime and dev dependencies

lock: venv ## Re-resolve the three lock files from pyproject.toml (the local lock takes the dev lock's pins)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --python-version 3.11 --generate-hashes -q \
	  -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra local --python-version 3.11 --generate-hashes -q \
	  -c requirements-dev.lock -o requirements-local.lock

clean: ## Remove caches, build output and the virtualenv
	rm -rf $(VENV) .pytest_cache cdk/cdk.out .bench
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

-include cdk/cdk.mk cdk/serverless.mk charts/chart.mk container/container.mk localstack/localstack.mk tests/load/load.mk \
  tests/rehearsal/rehearsal.mk tests/docs/docs.mk
