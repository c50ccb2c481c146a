"""Fixtures for the Helm chart tests: helm from the kubectl-layer wheel, one render per value set.

helm is extracted from the locked PyPI wheel by charts/tools/install_tools.py when it is missing,
so a fresh clone needs nothing but the virtualenv. Each value set renders once per session (cached).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from charts.tools.install_tools import ensure_tools
from tests.chart.chartlib import Helm, Render


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return ensure_tools()["helm"]


@pytest.fixture(scope="session")
def helm(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, tmp_path_factory.mktemp("helm-values"))


@pytest.fixture(scope="session")
def default(helm: Helm) -> Render:
    return helm.rendered("default")


@pytest.fixture(scope="session")
def prod(helm: Helm) -> Render:
    return helm.rendered("prod")


@pytest.fixture(scope="session")
def full(helm: Helm) -> Render:
    return helm.rendered("full")
