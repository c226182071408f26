"""Settings that refuse unsafe production values, and the docs and CORS they switch."""

import re

import httpx
import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.helpers import SECRET_KEY, client_for, make_settings, running_app

DOCS_PATHS = ["/docs", "/redoc", "/openapi.json"]
# The validator's advice; tests match on it so a refusal for another reason does not pass.
KEY_ADVICE = re.escape("SECRET_KEY needs 32+ random bytes in production")


def production(database_url: str = "sqlite:///unused.db", **overrides: object) -> Settings:
    return make_settings(database_url, environment="production", **overrides)


@pytest.mark.parametrize(
    "key",
    ["", "changeme", "change-me", "secret", "x" * 31],
    ids=["empty", "changeme", "change-me", "secret", "31-bytes"],
)
def test_production_refuses_a_weak_secret_key(key: str) -> None:
    with pytest.raises(ValidationError, match=KEY_ADVICE):
        production(secret_key=key)


def test_production_takes_a_strong_secret_key() -> None:
    settings = production(secret_key="k" * 32)

    assert settings.secret_key.get_secret_value() == "k" * 32


def test_production_refuses_any_cors_origin() -> None:
    with pytest.raises(ValidationError, match=re.escape('CORS_ORIGINS may not contain "*"')):
        production(cors_origins=["https://app.example.com", "*"])


@pytest.mark.parametrize("environment", ["development", "test"])
def test_elsewhere_a_missing_key_becomes_a_random_one(environment: str) -> None:
    first = make_settings("sqlite:///unused.db", environment=environment, secret_key="")
    second = make_settings("sqlite:///unused.db", environment=environment, secret_key="")

    key = first.secret_key.get_secret_value()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key != second.secret_key.get_secret_value()


def test_a_refused_key_is_not_echoed() -> None:
    """Pydantic's errors quote the input by default: here, the tail of the submitted key."""
    short_key = "0123456789abcdef-leaked-tail"

    with pytest.raises(ValidationError, match="SECRET_KEY needs") as caught:
        production(secret_key=short_key)

    assert "leaked-tail" not in str(caught.value)


def test_the_secret_key_is_never_shown() -> None:
    settings = production(secret_key=SECRET_KEY)

    assert SECRET_KEY not in repr(settings)
    assert SECRET_KEY not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("name", "value"),
    [("access_token_minutes", 0), ("access_token_minutes", 61), ("refresh_token_days", 91)],
)
def test_token_lifetimes_are_bounded(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        make_settings("sqlite:///unused.db", **{name: value})


@pytest.mark.parametrize("path", DOCS_PATHS)
async def test_docs_are_off_in_production(database_url: str, path: str) -> None:
    async with running_app(production(database_url)) as app, client_for(app) as client:
        r = await client.get(path)

    assert r.status_code == 404, r.text


@pytest.mark.parametrize("path", DOCS_PATHS)
async def test_docs_can_be_turned_on_in_production(database_url: str, path: str) -> None:
    settings = production(database_url, docs_enabled=True)
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


async def test_no_cors_unless_configured(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live", headers={"Origin": "https://app.example.com"})

    assert r.status_code == 200, r.text
    assert "access-control-allow-origin" not in r.headers
