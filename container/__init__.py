"""Container image tooling for users-api: the Dockerfile's helpers (podman plumbing, engine
detection, build, size and readiness measurements). Imported by tests/container."""
