"""chalicelib.swagger, wired into a throwaway Chalice app the way app.py wires it."""

import json
import re

import pytest
import yaml
from chalice import Chalice, Response
from chalice.test import Client

from chalicelib import swagger


def _make_app() -> Chalice:
    app = Chalice(app_name="swagger-assets-test")
    for content_type in swagger.SWAGGER_BINARY_TYPES:
        if content_type not in app.api.binary_types:
            app.api.binary_types.append(content_type)

    @app.route("/swagger")
    def swagger_page():
        return swagger.swagger_page()

    @app.route("/swagger/{asset}")
    def swagger_asset(asset):
        response = swagger.swagger_asset(asset)
        if response is None:
            return Response(body={"error": {"code": "not_found"}}, status_code=404)
        return response

    @app.route("/openapi.json")
    def openapi_json():
        return swagger.openapi_json()

    @app.route("/openapi.yaml")
    def openapi_yaml():
        return swagger.openapi_yaml()

    return app


@pytest.fixture(scope="module")
def client():
    with Client(_make_app()) as test_client:
        yield test_client


def _header(response, name):
    return {k.lower(): v for k, v in response.headers.items()}.get(name.lower())


def test_page_points_at_local_assets_and_spec(client):
    response = client.http.get("/swagger")
    assert response.status_code == 200
    assert _header(response, "content-type").startswith("text/html")
    html = response.body.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    for url in urls:
        # Relative to /swagger: nothing with a scheme, a host or a protocol-relative prefix.
        assert "://" not in url and not url.startswith("//"), url
        assert url.startswith("swagger/"), url
        name = url.split("?")[0].removeprefix("swagger/")
        assert name in swagger.SWAGGER_ASSET_NAMES
    assert "<script>" not in html  # no inline script: the CSP forbids it
    initializer = client.http.get("/swagger/swagger-initializer.js").body.decode()
    assert 'url: "openapi.json"' in initializer
    assert "validatorUrl: null" in initializer


def test_page_has_a_same_origin_csp(client):
    csp = _header(client.http.get("/swagger"), "content-security-policy")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    for value in directives.values():
        assert "http" not in value and "*" not in value


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-initializer.js", "text/javascript"),
    ],
)
def test_text_assets(client, name, content_type):
    response = client.http.get(f"/swagger/{name}")
    assert response.status_code == 200
    assert _header(response, "content-type").split(";")[0] == content_type
    assert "max-age=31536000" in _header(response, "cache-control")
    assert _header(response, "x-content-type-options") == "nosniff"
    assert len(response.body) > 100


def test_bundle_is_served_byte_exact(client):
    expected = (swagger._BUNDLE_DIR / "swagger-ui-bundle.js").read_bytes()
    assert client.http.get("/swagger/swagger-ui-bundle.js").body == expected


@pytest.mark.parametrize("name", ["favicon-32x32.png", "favicon-16x16.png"])
def test_png_assets_are_binary_and_byte_exact(client, name):
    response = client.http.get(f"/swagger/{name}", headers={"Accept": "image/png"})
    assert response.status_code == 200
    assert _header(response, "content-type") == "image/png"
    assert response.body == (swagger._BUNDLE_DIR / name).read_bytes()
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "oauth2-redirect.html",
        "swagger-ui.js.map",
        "swagger-ui-standalone-preset.js",
        "index.j2",
        "..",
        "..%2Fopenapi.yaml",
        "%2E%2E%2F__init__.py",
        "SWAGGER-UI.CSS",
        "",
    ],
)
def test_unknown_assets_are_refused(client, name):
    assert swagger.swagger_asset(name) is None
    if name:
        assert client.http.get(f"/swagger/{name}").status_code == 404


def test_every_asset_name_is_documented_in_the_spec():
    params = swagger.SPEC["paths"]["/swagger/{asset}"]["get"]["parameters"]
    (asset,) = [p for p in params if p["name"] == "asset"]
    assert set(asset["schema"]["enum"]) == swagger.SWAGGER_ASSET_NAMES


def test_openapi_json_and_yaml_are_the_same_document(client):
    as_json = client.http.get("/openapi.json")
    as_yaml = client.http.get("/openapi.yaml")
    assert _header(as_json, "content-type").startswith("application/json")
    assert _header(as_yaml, "content-type").startswith("application/yaml")
    assert json.loads(as_json.body) == yaml.safe_load(as_yaml.body) == swagger.SPEC
    assert [server["url"] for server in swagger.SPEC["servers"]] == ["/"]


def test_spec_is_valid_openapi():
    openapi_spec_validator = pytest.importorskip("openapi_spec_validator")
    openapi_spec_validator.validate(swagger.SPEC)


def test_spec_documents_every_contract_route():
    expected = {
        ("get", "/users"),
        ("post", "/user"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
        ("get", "/openapi.yaml"),
        ("get", "/swagger"),
        ("get", "/swagger/{asset}"),
    }
    documented = {
        (method, path)
        for path, item in swagger.SPEC["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }
    assert documented == expected


def test_error_schema_lists_every_error_code():
    error = swagger.SPEC["components"]["schemas"]["Error"]
    inner = error["properties"]["error"]
    assert inner["required"] == ["code", "message", "request_id"]
    assert set(inner["properties"]["code"]["enum"]) == {
        "invalid_request",
        "invalid_field",
        "not_found",
        "method_not_allowed",
        "email_exists",
        "payload_too_large",
        "unsupported_media_type",
        "service_unavailable",
        "internal_error",
    }
