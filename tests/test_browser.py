"""A real browser shows the rendered app's API docs with no request leaving this machine.

The default render is served by uvicorn on 127.0.0.1 and `/docs` is loaded in Debian's headless
Chromium through Playwright (never Playwright's own browser download). Chromium is found on PATH
or at ``CHROMIUM``; without it the test is skipped on a laptop and fails when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from helpers import clean_env, python_module, require_success, run, serving

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Request

# Chromium flags this machine needs: without the background-networking ones Chromium keeps
# calling Google's hosts, which a closed network refuses; as root it needs --no-sandbox.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the default render's Swagger UI must list, as its operation summaries show them.
EXPECTED_OPERATIONS = [
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/register",
    "GET /api/v1/users/me",
    "GET /api/v1/todos",
    "POST /api/v1/todos",
    "DELETE /api/v1/todos/{todo_id}",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The path of a Chromium binary; skip without one, or fail when ``CI=true``."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        unavailable = pytest.fail if os.environ.get("CI", "").lower() == "true" else pytest.skip
        unavailable("Chromium is not installed: `apt-get install chromium`, or set CHROMIUM")
    return str(found)


@pytest.fixture(scope="module")
def served_app(
    render: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The default render, migrated onto a fresh SQLite file and served; yields its base URL."""
    project = render("defaults")
    workdir = tmp_path_factory.mktemp("browser")
    env = clean_env(ENVIRONMENT="development", DATABASE_URL=f"sqlite:///{workdir / 'app.db'}")
    require_success(run(python_module("alembic", "upgrade", "head"), cwd=project, env=env))
    with serving(project, env, workdir / "uvicorn.log") as base_url:
        yield base_url


@dataclass
class Visit:
    """What a page did while it loaded: its requests, what the browser refused, its errors."""

    requested: list[str] = field(default_factory=list)
    refused_by_policy: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    text: str = ""

    def on_failure(self, request: Request) -> None:
        # Chromium reports a request that the page's Content-Security-Policy stopped as "csp".
        if request.failure == "csp":
            self.refused_by_policy.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def left_the_machine(self) -> list[str]:
        """Requests to any host but this one that the browser really sent."""
        return [
            url
            for url in self.requested
            if urlsplit(url).scheme not in {"data", "blob"}
            and urlsplit(url).hostname not in LOOPBACK
            and url not in self.refused_by_policy
        ]


def load_in_chromium(chromium: str, url: str, profile: Path, ready: str) -> Visit:
    """Load ``url`` in headless Chromium until ``ready`` (a CSS selector) shows."""
    from playwright.sync_api import sync_playwright

    visit = Visit()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: visit.requested.append(request.url))
            page.on("requestfailed", visit.on_failure)
            page.on("console", visit.on_console)
            page.on("pageerror", lambda error: visit.errors.append(str(error)))
            page.goto(url, wait_until="networkidle")
            page.wait_for_selector(ready, timeout=15_000)
            # Swagger UI's rows read "POST /api/v1/... Summary", paths broken by zero-width spaces.
            for row in page.locator(".opblock-summary").all_inner_texts():
                visit.operations.add(" ".join(row.replace("\u200b", "").split()[:2]))
            visit.text = page.inner_text("body")
            if screenshot := os.environ.get("DOCS_SCREENSHOT"):
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    return visit


def test_swagger_ui_lists_the_api_offline(chromium: str, served_app: str, tmp_path: Path) -> None:
    visit = load_in_chromium(chromium, f"{served_app}/docs", tmp_path, ready=".opblock")

    missing = [operation for operation in EXPECTED_OPERATIONS if operation not in visit.operations]
    assert not missing, f"Swagger UI does not list {missing}; it shows {sorted(visit.operations)}"
    assert f"{served_app}/openapi.json" in visit.requested
    assert not [url for url in visit.requested if urlsplit(url).hostname not in LOOPBACK]
    # A script, style or image that the page's policy refused would be logged here.
    assert not visit.errors, "the page logged errors:\n" + "\n".join(visit.errors)


def test_redoc_shows_the_api_offline(chromium: str, served_app: str, tmp_path: Path) -> None:
    visit = load_in_chromium(chromium, f"{served_app}/redoc", tmp_path, ready="h2")

    assert "/api/v1/auth/login" in visit.text, visit.text[:2000]
    assert not visit.left_the_machine(), f"requests to other hosts: {visit.left_the_machine()}"
    # ReDoc's footer asks its vendor's CDN for a logo; the policy refuses it, nothing else.
    assert set(visit.refused_by_policy) <= {REDOC_LOGO}, visit.refused_by_policy
    errors = [error for error in visit.errors if REDOC_LOGO not in error]
    assert not errors, "the page logged errors:\n" + "\n".join(errors)
