"""values.yaml, values.schema.json and README.md agree; helm/kubectl install is idempotent."""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any

import pytest

from charts.tools.install_tools import STAMP_NAME, ensure_tools
from charts.tools.valuesdoc import MARKER, default_repr, leaves, load, meaning, values_table
from tests.chart.chartlib import CHART, PROD_VALUES

README = CHART / "README.md"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| `(?P<default>[^`]*)` \| (?P<meaning>.+) \|$")


@pytest.fixture(scope="module")
def values_and_nodes():
    return load(CHART / "values.yaml")


@pytest.fixture(scope="module")
def readme_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in README.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match["key"]] = (match["default"], match["meaning"])
    return rows


def test_every_value_has_a_comment(values_and_nodes):
    values, nodes = values_and_nodes
    undocumented = [path for path in leaves(values) if not meaning(path, nodes)]
    assert not undocumented, f"values without a '# --' comment: {undocumented}"


def test_readme_lists_every_value_with_default_and_meaning(values_and_nodes, readme_rows):
    values, _ = values_and_nodes
    expected = leaves(values)
    missing = sorted(set(expected) - set(readme_rows))
    assert not missing, f"README.md lacks rows for {missing}"
    stale = sorted(set(readme_rows) - set(expected))
    assert not stale, f"README.md lists values that no longer exist: {stale}"
    for path, default in expected.items():
        documented_default, text = readme_rows[path]
        assert documented_default == default_repr(default), f"{path}: README default is stale"
        assert len(text) > 10, f"{path}: README meaning is empty"


def test_readme_explains_the_readiness_trade_off():
    text = README.read_text()
    assert "### Probes, and what a shared DynamoDB/S3 outage does" in text
    for phrase in ("failureThreshold", "checkDependencies", "unhealthyPodEvictionPolicy"):
        assert phrase in text


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = SCHEMA["definitions"][name]
    return schema


def schema_for(path: str) -> dict[str, Any] | None:
    node: dict[str, Any] = SCHEMA
    for part in path.split("."):
        node = resolve(node)
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node


def test_schema_covers_every_value_and_nothing_else(values_and_nodes):
    values, _ = values_and_nodes
    assert SCHEMA["additionalProperties"] is False
    assert set(SCHEMA["properties"]) == set(values)
    for path in leaves(values):
        assert schema_for(path) is not None, f"{path} has no schema"


def test_schema_objects_are_closed(values_and_nodes):
    """Every chart-defined object refuses unknown keys (maps of labels/annotations aside)."""
    values, _ = values_and_nodes

    def walk(path: str, value: Any) -> None:
        if not isinstance(value, dict) or not value:
            return
        node = resolve(schema_for(path) or {})
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        for key, child in value.items():
            walk(f"{path}.{key}", child)

    for key, value in values.items():
        walk(key, value)


def test_cdk_keys_exist():
    for path in ("image.repository", "image.tag", "config.usersTable", "config.avatarsBucket",
                 "config.awsRegion", "serviceAccount.name", "serviceAccount.annotations"):
        assert schema_for(path) is not None, path


def test_prod_overlay_values_are_documented_too():
    prod, nodes = load(PROD_VALUES)
    undocumented = [path for path in leaves(prod) if not meaning(path, nodes)]
    assert not undocumented, f"values-prod.yaml values without a '# --' comment: {undocumented}"


# --- charts/tools/install_tools.py ------------------------------------------------------------

def test_install_tools_is_idempotent(helm_bin):
    bin_dir = helm_bin.parent
    before = {n: (bin_dir / n).stat().st_mtime_ns for n in ("helm", "kubectl", STAMP_NAME)}
    paths = ensure_tools(bin_dir)
    assert paths == {"helm": bin_dir / "helm", "kubectl": bin_dir / "kubectl"}
    after = {n: (bin_dir / n).stat().st_mtime_ns for n in ("helm", "kubectl", STAMP_NAME)}
    assert before == after, "a second run rewrote the binaries"


def test_install_tools_extracts_into_an_empty_dir(tmp_path):
    bin_dir = tmp_path / "bin"
    try:
        paths = ensure_tools(bin_dir)
        for path in paths.values():
            assert path.is_file() and os.access(path, os.X_OK)
        (bin_dir / "helm").unlink()  # a missing binary is restored
        ensure_tools(bin_dir)
        assert (bin_dir / "helm").is_file()
        assert not list(bin_dir.glob(".helm.*")), "temporary files left behind"
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)  # 120 MB: don't keep it in pytest's tmp


def test_values_doc_generator_reproduces_the_readme_table():
    """`make chart-docs` (charts/tools/valuesdoc.py) would change nothing: the README is in sync."""
    text = README.read_text()
    head, marker, tail = text.partition(MARKER)
    assert marker, "README.md lost its values-table marker"
    assert tail.split("\n", 1)[1].lstrip("\n") == values_table(CHART / "values.yaml")
