"""The API docs come from this app alone: same-origin assets under a policy that allows no other."""

import base64
import hashlib
import re
from html.parser import HTMLParser

import httpx
import pytest

from tests.helpers import client_for, production_settings, running_app

DOCS_PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'"


class AssetFinder(HTMLParser):
    """Collects what a page loads (`src`, `href`) and the bodies of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value for name, value in attrs if name in {"src", "href"} and value}
        self.urls += found.values()
        self._in_inline_script = tag == "script" and "src" not in found

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


def parse(html: str) -> AssetFinder:
    finder = AssetFinder()
    finder.feed(html)
    return finder


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_load_their_assets_from_this_app(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    urls = parse(page.text).urls

    assert urls, "the page loads nothing"
    for url in urls:
        assert url.startswith("/docs/static/"), f"{url} is not one of this app's files"
        asset = await client.get(url)
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        assert asset.content, f"{url} is empty"


async def test_swagger_ui_reads_this_apps_schema(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    schema = await client.get("/openapi.json")

    assert "url: '/openapi.json'" in page.text
    assert schema.status_code == 200, schema.text
    assert "/api/v1/auth/login" in schema.json()["paths"]


@pytest.mark.parametrize("path", DOCS_PAGES)
async def test_docs_policy_allows_this_origin_and_the_pages_own_scripts(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    policy = directives(page.headers["content-security-policy"])
    allowed_scripts = set(policy["script-src"])

    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in allowed_scripts
    assert "'unsafe-eval'" not in allowed_scripts
    for sources in policy.values():
        for source in sources:
            assert not re.search(r"https?:|\*", source), f"{source} lets another host in"
    for script in parse(page.text).inline_scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed_scripts


async def test_the_api_keeps_the_strict_policy(client: httpx.AsyncClient) -> None:
    api = await client.get("/health/live")
    docs_asset = await client.get("/docs/static/swagger-ui.css")

    assert api.headers["content-security-policy"] == STRICT_POLICY
    assert docs_asset.headers["content-security-policy"] == STRICT_POLICY


async def test_browsers_keep_the_viewer_files_but_not_the_pages(client: httpx.AsyncClient) -> None:
    """2.7 MB of scripts and styles would otherwise download again on every visit."""
    script = await client.get("/docs/static/swagger-ui-bundle.js")
    again = await client.get(
        "/docs/static/swagger-ui-bundle.js", headers={"If-None-Match": script.headers["etag"]}
    )
    page = await client.get("/docs")

    assert script.headers["cache-control"] == "public, max-age=86400"
    assert again.status_code == 304
    assert again.headers["cache-control"] == "public, max-age=86400"
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", [*DOCS_PAGES, "/docs/static/swagger-ui-bundle.js"])
async def test_docs_and_their_files_are_off_in_production(database_url: str, path: str) -> None:
    settings = production_settings(database_url)
    async with running_app(settings) as app, client_for(app) as client:
        r = await client.get(path)

    assert r.status_code == 404, r.text
