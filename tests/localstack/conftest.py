"""Fixtures for the LocalStack dev-loop checks (local to tests/localstack)."""

from __future__ import annotations

import pytest
import yaml

from tests.localstack.tfmodel import LOCALSTACK_DIR, TerraformModel


@pytest.fixture(scope="session")
def tf() -> TerraformModel:
    return TerraformModel.load()


@pytest.fixture(scope="session")
def compose() -> dict:
    with (LOCALSTACK_DIR / "compose.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def localstack_service(compose) -> dict:
    services = compose.get("services") or {}
    assert list(services) == ["localstack"], f"expected one service, got {list(services)}"
    return services["localstack"]
