"""Fixtures for the container tests: a working engine, the image built once, containers to run.

The engine is podman (or docker with a reachable daemon). Without either the tests skip with
the reason; with USERS_API_REQUIRE_CONTAINER=1 (CI) that is a failure instead. The moto server
comes from tests/fixtures/emulator.py (`moto_endpoint`, table and bucket bootstrapped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from container.image import Engine, app_env, detect_engine, free_port, wait_for_status

TEST_TAG = "localhost/users-api:test"
REQUIRE_VAR = "USERS_API_REQUIRE_CONTAINER"


@pytest.fixture(scope="session")
def container_engine() -> Engine:
    engine, reason = detect_engine(prefer=("podman", "docker"))
    if engine is None:
        if os.environ.get(REQUIRE_VAR) == "1":
            pytest.fail(f"{REQUIRE_VAR}=1 but {reason}")
        pytest.skip(f"container tests need podman, or docker with a reachable daemon: {reason}")
    return engine


@pytest.fixture(scope="session")
def users_api_image(container_engine: Engine) -> str:
    """container/Dockerfile built from the repo root (podman: on the local debootstrap base)."""
    container_engine.build(TEST_TAG)
    return TEST_TAG


@dataclass
class Running:
    engine: Engine
    name: str
    port: int
    metrics_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def logs(self) -> str:
        return self.engine.logs(self.name)


class ContainerFactory:
    """Starts the image the way the chart runs it; removes every container it started."""

    def __init__(self, engine: Engine, image: str, endpoint: str) -> None:
        self.engine, self.image, self.endpoint = engine, image, endpoint
        self.names: list[str] = []

    def __call__(self, **extra_env: str) -> Running:
        name = f"users-api-test-{uuid.uuid4().hex[:10]}"
        port, metrics_port = free_port(), free_port()
        env = {**app_env(self.endpoint), "USERS_TABLE": "users",
               "AVATARS_BUCKET": "users-api-avatars", "METRICS_PORT": str(metrics_port),
               **extra_env}
        self.names.append(name)
        self.engine.run_detached(self.image, name=name, port=port, env=env)
        running = Running(self.engine, name, port, metrics_port)
        try:
            wait_for_status(f"{running.url}/readyz", 200, timeout=90,
                            alive=lambda: self.engine.running(name))
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n--- container logs ---\n{running.logs()}")
        return running

    def remove_all(self) -> None:
        for name in self.names:
            self.engine.remove(name)


@pytest.fixture(scope="module")
def start_container(container_engine: Engine, users_api_image: str,
                    moto_endpoint: str) -> Iterator[ContainerFactory]:
    factory = ContainerFactory(container_engine, users_api_image, moto_endpoint)
    yield factory
    factory.remove_all()
