"""Swagger UI in headless Chromium, as a person would use it.

The page at /swagger must render every operation of the spec, load nothing from
anywhere but the server itself (no CDN, no validator badge, no fonts), raise no
script or Content-Security-Policy error, and "Try it out" on POST /user with a file
must create the user.

Chromium is the distribution's package (`chromium`), driven through Playwright's
Python API. A machine without it skips these tests, with the reason; CI sets
USERS_API_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from PIL import Image

SPEC_PATH = Path(__file__).resolve().parents[2] / "api" / "chalicelib" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
LOCAL_HOSTS = {"127.0.0.1"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


def _unavailable(reason: str):
    if os.environ.get("USERS_API_REQUIRE_BROWSER") == "1":
        pytest.fail(f"USERS_API_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_path()
    if executable is None:
        _unavailable("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class PageWatch:
    """Every request the page makes, those that left this machine, and every error."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.scheme in ("http", "https") and parts.hostname in LOCAL_HOSTS

    def route(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        if self.is_local(url):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def on_request(self, request) -> None:
        if not self.is_local(request.url) and request.url not in self.outside:
            self.outside.append(request.url)

    def on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture
def swagger_page(browser, live_server):
    assert urlsplit(live_server).hostname in LOCAL_HOSTS, live_server
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    context.set_default_timeout(TIMEOUT_MS)
    watch = PageWatch()
    context.route("**/*", watch.route)
    context.on("request", watch.on_request)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    response = page.goto(f"{live_server}/swagger", wait_until="load")
    assert response is not None and response.status == 200
    page.wait_for_selector(".opblock .opblock-summary-path")
    try:
        yield page, watch
    finally:
        context.close()


def _documented_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _rendered_operations(page) -> set[tuple[str, str]]:
    rows = page.eval_on_selector_all(
        ".opblock .opblock-summary",
        """els => els.map(el => [
            el.querySelector('.opblock-summary-method').textContent.trim(),
            el.querySelector('.opblock-summary-path').getAttribute('data-path'),
        ])""",
    )
    return {(method, path) for method, path in rows}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_page_renders_every_operation_from_this_origin_only(swagger_page, tmp_path):
    page, watch = swagger_page
    expected = _documented_operations()
    page.wait_for_function(
        "n => document.querySelectorAll('.opblock .opblock-summary').length >= n",
        arg=len(expected),
    )
    assert _rendered_operations(page) == expected
    assert page.locator(".info .title").first.inner_text().startswith("Users API")

    screenshot = tmp_path / "swagger.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    paths = {urlsplit(url).path for url in watch.requests}
    assert {"/swagger", "/openapi.json", "/swagger/swagger-ui-bundle.js"} <= paths
    assert watch.outside == [], f"requests left 127.0.0.1: {watch.outside}"
    assert watch.errors == [], watch.errors


def test_try_it_out_creates_a_user_with_an_avatar(swagger_page, live_server):
    page, watch = swagger_page
    operation = page.locator(".opblock-post").filter(
        has=page.locator('.opblock-summary-path[data-path="/user"]')
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()

    email = f"swagger-{uuid.uuid4().hex[:12]}@example.com"
    operation.locator('tr[data-property-name="name"] input').fill("Grace Hopper")
    operation.locator('tr[data-property-name="email"] input').fill(email)
    operation.locator('tr[data-property-name="avatar"] input[type="file"]').set_input_files(
        files=[{"name": "avatar.png", "mimeType": "image/png", "buffer": _png()}]
    )
    with page.expect_response(lambda r: urlsplit(r.url).path == "/user") as created:
        operation.locator("button.execute").click()
    assert created.value.status == 201, created.value.text()
    assert created.value.request.url == f"{live_server}/user"

    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "201"
    details = operation.locator(".live-responses-table tr.response .response-col_description")
    assert email in details.first.inner_text()

    assert watch.outside == [], f"requests left 127.0.0.1: {watch.outside}"
    assert watch.errors == [], watch.errors
