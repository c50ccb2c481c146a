"""The never-arrows of the layering, read from the code's own imports (ast, so an import inside
a function counts too). Dependencies point inward: routes -> service -> ports <- adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
API = REPO / "api"
# Top-level names under api/: what `cdk/` must never import.
API_MODULES = {"app", "wsgi", "manage", "chalicelib", "chalice_wsgi", "devtools"}
SERVICE = {"chalicelib.service", "chalicelib.readiness", "chalicelib.sweep"}
# What "a concrete adapter" means for the service: the adapters and the SDK they wrap.
CONCRETE = ("chalicelib.adapters", "chalicelib.wiring", "boto3", "botocore")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module:
                found.add(module)
            # `from chalicelib import service` imports chalicelib.service.
            found.update(f"{module}.{alias.name}" if module else alias.name for alias in node.names)
    return found


def graph(root: Path, *patterns: str) -> dict[str, set[str]]:
    # Only the project's own code: not installed tools (cdk/node_modules) or build output.
    skipped = {"__pycache__", "node_modules", "cdk.out"}
    files = sorted({path for pattern in patterns for path in root.glob(pattern)
                    if not skipped.intersection(path.relative_to(root).parts)})
    return {module_name(path, root): imports_of(path, root) for path in files}


def crossing(edges: dict[str, set[str]], sources, targets) -> list[str]:
    def hits(name: str, prefixes) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return sorted(f"{source} -> {target}" for source, imported in edges.items()
                  if hits(source, sources) for target in imported if hits(target, targets))


@pytest.fixture(scope="module")
def api() -> dict[str, set[str]]:
    return graph(API, "*.py", "chalicelib/**/*.py", "chalice_wsgi/**/*.py", "devtools/**/*.py")


def test_the_import_graph_is_really_read(api):
    # So the checks below cannot pass by reading nothing.
    assert "chalicelib.adapters.users_table" in api["chalicelib.wiring"]
    assert "chalicelib.ports" in api["chalicelib.service"]
    assert "chalicelib.middleware" in api["app"]
    assert "chalicelib.sweep" in api["manage"]  # imported inside a function
    assert "chalicelib.avatar_keys" in api["chalicelib.adapters.avatar_store"]
    assert {"chalicelib.service", "chalicelib.adapters.aws", "chalice_wsgi", "devtools.emulator",
            "wsgi", "manage"} <= set(api)


def test_chalicelib_never_imports_the_routes(api):
    assert not crossing(api, ["chalicelib"], ["app", "wsgi", "manage"])


def test_adapters_never_import_the_service(api):
    assert not crossing(api, ["chalicelib.adapters"], [*SERVICE, "chalicelib.wiring",
                                                       "chalicelib.request", "chalicelib.middleware"])


def test_the_service_imports_ports_never_a_concrete_adapter(api):
    assert not crossing(api, SERVICE, CONCRETE)


def test_the_production_package_never_imports_dev_tools(api):
    production = ["chalicelib", "chalice_wsgi", "wsgi", "manage", "app"]
    assert not crossing(api, production, ["devtools"])


def test_the_routes_import_only_what_chalice_packages(api):
    # Chalice packages app.py and chalicelib/ only (for Lambda); the WSGI adapter is not routing.
    assert not crossing(api, ["app", "chalicelib"], ["chalice_wsgi", "devtools", "wsgi", "manage"])


def test_cdk_never_imports_the_api():
    cdk = graph(REPO / "cdk", "**/*.py")
    assert "users_api_infra.data_stack" in cdk, "no CDK code found"
    assert not [f"{source} -> {target}" for source, imported in cdk.items()
                for target in imported if target.split(".")[0] in API_MODULES]
