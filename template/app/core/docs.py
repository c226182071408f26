"""Interactive API docs served by the app itself: no CDN, and a strict Content-Security-Policy.

Swagger UI (`/docs`) and ReDoc (`/redoc`) load their scripts, styles and icon from the files the
fastapi-offline package ships, mounted at `/docs/static`, so the docs work offline and send no
request to another host. FastAPI's pages start each viewer with a few inline lines; the page's
policy allows exactly those lines by their SHA-256 hash, never all inline scripts.
"""

import base64
import hashlib
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC_URL = "/docs/static"
STATIC_MAX_AGE = 86400
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# What each page needs beyond this origin's files. Swagger UI: the data: icons of its stylesheet.
# ReDoc: <style> elements that its styled-components writes at run time (a policy can only allow
# those as inline styles) and a search worker started from a blob: URL. ReDoc's footer also asks
# for a logo from its vendor's CDN; img-src refuses it, and ReDoc hides the broken image.
SWAGGER_UI_NEEDS = "style-src 'self'; img-src 'self' data:"
REDOC_NEEDS = "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src blob:"


def script_hashes(html: str) -> str:
    """The CSP sources that allow the inline scripts of `html`, and no other."""
    digests = (hashlib.sha256(script.encode()).digest() for script in INLINE_SCRIPT.findall(html))
    return " ".join(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)


def with_policy(page: HTMLResponse, needs: str) -> HTMLResponse:
    """Set the page's own Content-Security-Policy: this origin only, its inline scripts, `needs`."""
    scripts = f"'self' {script_hashes(bytes(page.body).decode())}".strip()
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {scripts}; connect-src 'self'; {needs}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page


class ViewerFiles(StaticFiles):
    """The viewers' scripts and styles (2.7 MB) change only with the package: browsers may keep
    them a day, then revalidate with the ETag, instead of the API's `no-store`."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
        return response


def install_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve Swagger UI at `/docs` and ReDoc at `/redoc` from this app's own files."""
    app.mount(STATIC_URL, ViewerFiles(packages=[("fastapi_offline", "static")]), name="docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        )
        return with_policy(page, SWAGGER_UI_NEEDS)

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return with_policy(get_swagger_ui_oauth2_redirect_html(), SWAGGER_UI_NEEDS)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
        return with_policy(page, REDOC_NEEDS)
