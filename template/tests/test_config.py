"""Settings that refuse unsafe production values, and the docs and CORS they switch."""

import re

import httpx
import pytest
from pydantic import ValidationError

from tests.helpers import (
    UNREACHABLE_DATABASE,
    client_for,
    make_settings,
    production_settings,
    running_app,
)
from tests.tokens import KEY_SETTINGS

DOCS_PATHS = ["/docs", "/redoc", "/openapi.json"]


def test_production_refuses_any_cors_origin() -> None:
    with pytest.raises(ValidationError, match=re.escape('CORS_ORIGINS may not contain "*"')):
        production_settings(cors_origins=["https://app.example.com", "*"])


def test_production_refuses_debug_logging() -> None:
    with pytest.raises(ValidationError, match="LOG_LEVEL=DEBUG is refused in production"):
        production_settings(log_level="DEBUG")

    assert production_settings(log_level="INFO").log_level == "INFO"


def test_a_refusal_never_shows_the_keys_or_the_database_password() -> None:
    with pytest.raises(ValidationError) as refusal:
        production_settings(UNREACHABLE_DATABASE, cors_origins=["*"])

    shown = str(refusal.value)
    assert "hunter2" not in shown
    for secret in KEY_SETTINGS.values():
        assert secret not in shown


@pytest.mark.parametrize(
    ("name", "value"),
    [("access_token_minutes", 0), ("access_token_minutes", 61), ("refresh_token_days", 91)],
)
def test_token_lifetimes_are_bounded(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        make_settings("sqlite:///unused.db", **{name: value})


@pytest.mark.parametrize("path", DOCS_PATHS)
async def test_docs_are_off_in_production_settings(database_url: str, path: str) -> None:
    async with running_app(production_settings(database_url)) as app, client_for(app) as client:
        r = await client.get(path)

    assert r.status_code == 404, r.text


@pytest.mark.parametrize("path", DOCS_PATHS)
async def test_docs_can_be_turned_on_in_production_settings(database_url: str, path: str) -> None:
    settings = production_settings(database_url, docs_enabled=True)
    async with running_app(settings) as app, client_for(app) as client:
        r = await client.get(path)

    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", DOCS_PATHS)
async def test_docs_are_on_in_development(database_url: str, path: str) -> None:
    settings = make_settings(database_url, environment="development")
    async with running_app(settings) as app, client_for(app) as client:
        r = await client.get(path)

    assert r.status_code == 200, r.text


async def test_cors_allows_only_the_listed_origins(database_url: str) -> None:
    settings = make_settings(database_url, cors_origins=["https://app.example.com"])
    preflight = {"Access-Control-Request-Method": "POST"}
    async with running_app(settings) as app, client_for(app) as client:
        allowed = await client.options(
            "/api/v1/auth/login", headers={"Origin": "https://app.example.com", **preflight}
        )
        refused = await client.options(
            "/api/v1/auth/login", headers={"Origin": "https://evil.example", **preflight}
        )

    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_lets_a_browser_client_make_conditional_requests(database_url: str) -> None:
    settings = make_settings(database_url, cors_origins=["https://app.example.com"])
    origin = {"Origin": "https://app.example.com"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "if-match, if-none-match",
    }
    async with running_app(settings) as app, client_for(app) as client:
        allowed = await client.options("/api/v1/auth/login", headers=preflight)
        answer = await client.get("/health/live", headers=origin)

    assert allowed.status_code == 200, allowed.text
    assert "etag" in answer.headers["access-control-expose-headers"].lower()


async def test_no_cors_unless_configured(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live", headers={"Origin": "https://app.example.com"})

    assert r.status_code == 200, r.text
    assert "access-control-allow-origin" not in r.headers
