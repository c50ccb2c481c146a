##@ Image (container/README.md)
# Container image: container/Dockerfile, built from the repo root.
# Included by the top-level Makefile, which defines PY, BIN, VENV and the `venv` target.
#   make image            build with docker if its daemon answers, else podman; print size & timings
#   make image-run        serve the image on http://127.0.0.1:8000 against the embedded emulator
# Engine choice: CONTAINER_ENGINE=docker|podman forces one. Podman needs no registry: it builds
# on a local debootstrap base (see container/podman_env.py; container/ci-setup.sh installs it).

CONTAINER_IMAGE ?= users-api:dev
export CONTAINER_IMAGE

.PHONY: image image-build image-run image-base lint-container test-container

image: venv ## Build the image (docker, else podman); print its size, build time and start-to-ready time
	$(PY) container/image.py --tag $(CONTAINER_IMAGE) bench

image-build: venv ## Build the image only (docker if its daemon answers, else podman)
	$(PY) container/image.py --tag $(CONTAINER_IMAGE) build

image-run: venv ## Run the image read-only as UID 10001 on :8000 against the embedded emulator (Ctrl-C stops)
	$(LOCAL_REGION) EMULATOR_PORT=$(EMULATOR_PORT) $(PY) container/image.py --tag $(CONTAINER_IMAGE) run

image-base: venv ## Podman only: create the cached debootstrap base image (localhost/users-api-base:bookworm)
	$(PY) container/podman_env.py base

lint-container: venv ## Lint container/Dockerfile with hadolint (settings and reasons in container/.hadolint.yaml)
	$(BIN)/hadolint --config container/.hadolint.yaml container/Dockerfile

test-container: venv ## Run only the container tests (build, run read-only, API, UID, SIGTERM)
	$(PY) -m pytest tests/container $(PYTEST_ARGS)
