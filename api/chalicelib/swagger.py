"""Swagger UI and the static OpenAPI spec, served by the app itself (no CDN).

The UI's files come from the ``swagger-ui-bundle`` distribution. Only a fixed list of
them is served, under flat names (Chalice path parameters cannot contain ``/``). The
page's own configuration is a generated script, so the page needs no inline script
and its Content-Security-Policy can allow scripts from this origin only.

The routes in ``app.py`` call these functions; each returns a ``chalice.Response``
(``swagger_asset`` returns ``None`` for a name it does not serve).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import yaml
from chalice import Response
from swagger_ui_bundle import swagger_ui_path

SPEC_PATH = Path(__file__).with_name("openapi.yaml")

# Loaded and serialized once per process.
SPEC_YAML: str = SPEC_PATH.read_text(encoding="utf-8")
SPEC: dict = yaml.safe_load(SPEC_YAML)
SPEC_JSON: str = json.dumps(SPEC, ensure_ascii=False, separators=(",", ":"))

_BUNDLE_DIR = Path(str(swagger_ui_path))
# "swagger-ui-4.15.5" -> "4.15.5"; used to bust caches of the long-lived assets.
SWAGGER_UI_VERSION = _BUNDLE_DIR.name.rpartition("-")[2]

#: Content types of the binary assets. They must be in ``app.api.binary_types``
#: (``image/png`` is in Chalice's defaults already).
SWAGGER_BINARY_TYPES: tuple[str, ...] = ("image/png",)

_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
_PNG = "image/png"

# name served under /swagger/<name> -> (content type, file in the bundle)
_BUNDLE_ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui.css": (_CSS, "swagger-ui.css"),
    "index.css": (_CSS, "index.css"),
    "swagger-ui-bundle.js": (_JS, "swagger-ui-bundle.js"),
    "favicon-32x32.png": (_PNG, "favicon-32x32.png"),
    "favicon-16x16.png": (_PNG, "favicon-16x16.png"),
}

# The page's configuration, as a script file rather than an inline script (CSP).
# validatorUrl: null keeps the UI from loading a badge from the public validator.
_INITIALIZER_JS = """\
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    validatorUrl: null,
    queryConfigEnabled: false,
    displayRequestDuration: true
  });
});
"""

#: Every name served under /swagger/<name>.
SWAGGER_ASSET_NAMES: frozenset[str] = frozenset(_BUNDLE_ASSETS) | {"swagger-initializer.js"}

_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"

# Scripts, styles, images and fetches from this origin only. Swagger UI sets inline
# style attributes and its CSS embeds data: images, hence the two exceptions.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


def _asset_url(name: str) -> str:
    # Relative to /swagger, so the page also works behind a path prefix.
    return f"swagger/{name}?v={SWAGGER_UI_VERSION}"


_PAGE_HTML = f"""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Users API - Swagger UI</title>
<link rel="stylesheet" href="{_asset_url("swagger-ui.css")}">
<link rel="stylesheet" href="{_asset_url("index.css")}">
<link rel="icon" type="image/png" href="{_asset_url("favicon-32x32.png")}" sizes="32x32">
<link rel="icon" type="image/png" href="{_asset_url("favicon-16x16.png")}" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_asset_url("swagger-ui-bundle.js")}"></script>
<script src="{_asset_url("swagger-initializer.js")}"></script>
</body>
</html>
"""


@functools.cache
def _asset_body(name: str) -> str | bytes:
    content_type, filename = _BUNDLE_ASSETS[name]
    data = (_BUNDLE_DIR / filename).read_bytes()
    if content_type in SWAGGER_BINARY_TYPES:
        return data
    return data.decode("utf-8")


def swagger_page() -> Response:
    """GET /swagger: the Swagger UI page, pointed at /openapi.json."""
    return Response(
        body=_PAGE_HTML,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def swagger_asset(name: str) -> Response | None:
    """GET /swagger/{asset}: one whitelisted static file, or None for any other name."""
    if name == "swagger-initializer.js":
        content_type, body = _JS, _INITIALIZER_JS
    elif name in _BUNDLE_ASSETS:
        content_type, body = _BUNDLE_ASSETS[name][0], _asset_body(name)
    else:
        return None
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "Cache-Control": _ASSET_CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )


def openapi_json() -> Response:
    """GET /openapi.json: the spec as JSON."""
    return Response(
        body=SPEC_JSON,
        status_code=200,
        headers={"Content-Type": "application/json"},
    )


def openapi_yaml() -> Response:
    """GET /openapi.yaml: the spec file as it is in the repo."""
    return Response(
        body=SPEC_YAML,
        status_code=200,
        headers={"Content-Type": "application/yaml; charset=utf-8"},
    )
