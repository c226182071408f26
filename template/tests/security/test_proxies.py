"""Rate limits count the real client: X-Forwarded-For counts only when a trusted proxy sent it.

The test client connects from 127.0.0.1, so trusting 127.0.0.1 makes it the proxy.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.helpers import PASSWORD, client_for, make_settings, running_app

# Two sign-ins, or two sign-ups, a minute from each client.
LIMITS = {"login_rate_limit": "2/minute", "register_rate_limit": "2/minute"}

Attempt = Callable[[httpx.AsyncClient, int, dict[str, str]], Awaitable[httpx.Response]]


async def sign_in(client: httpx.AsyncClient, n: int, headers: dict[str, str]) -> httpx.Response:
    form = {"username": f"nobody-{n}@example.com", "password": PASSWORD}
    return await client.post("/api/v1/auth/login", data=form, headers=headers)


async def sign_up(client: httpx.AsyncClient, n: int, headers: dict[str, str]) -> httpx.Response:
    payload = {"email": f"user-{n}@example.com", "password": PASSWORD}
    return await client.post("/api/v1/auth/register", json=payload, headers=headers)


ATTEMPTS = pytest.mark.parametrize("attempt", [sign_in, sign_up], ids=["login", "register"])


@asynccontextmanager
async def limited_client(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app_settings = make_settings(database_url, **LIMITS, **settings)
    async with running_app(app_settings) as application, client_for(application) as client:
        yield client


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@ATTEMPTS
@pytest.mark.parametrize(
    "trusted_proxies",
    [[], ["10.0.0.0/8"]],
    ids=["no-trusted-proxies", "peer-not-a-trusted-proxy"],
)
async def test_an_untrusted_peer_cannot_claim_a_forwarded_address(
    database_url: str, attempt: Attempt, trusted_proxies: list[str]
) -> None:
    async with limited_client(database_url, trusted_proxies=trusted_proxies) as client:
        for n in range(2):
            r = await attempt(client, n, forwarded_for(f"203.0.113.{n}"))
            assert r.status_code in {201, 401}, r.text
        limited = await attempt(client, 2, forwarded_for("203.0.113.2"))

    assert_rate_limited(limited)


@ATTEMPTS
@pytest.mark.parametrize("proxy", ["127.0.0.1", "127.0.0.0/8"], ids=["address", "network"])
async def test_behind_a_trusted_proxy_each_forwarded_client_counts_alone(
    database_url: str, attempt: Attempt, proxy: str
) -> None:
    async with limited_client(database_url, trusted_proxies=[proxy]) as client:
        for n in range(2):
            r = await attempt(client, n, forwarded_for("203.0.113.1"))
            assert r.status_code in {201, 401}, r.text
        limited = await attempt(client, 2, forwarded_for("203.0.113.1"))
        other_client = await attempt(client, 3, forwarded_for("203.0.113.2"))

    assert_rate_limited(limited)
    assert other_client.status_code in {201, 401}, other_client.text


async def test_addresses_a_client_puts_before_the_proxy_s_are_ignored(
    database_url: str,
) -> None:
    """The proxy appends the address it saw; what the client wrote before it is not believed."""
    async with limited_client(database_url, trusted_proxies=["127.0.0.1"]) as client:
        for n in range(2):
            r = await sign_in(client, n, forwarded_for(f"198.51.100.{n}, 203.0.113.1"))
            assert r.status_code == 401, r.text
        limited = await sign_in(client, 2, forwarded_for("198.51.100.2, 203.0.113.1"))

    assert_rate_limited(limited)


@pytest.mark.parametrize("entry", ["proxy.internal", "10.0.0.1/8", "*"])
def test_trusted_proxies_must_be_addresses_or_networks(entry: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        make_settings("sqlite://", trusted_proxies=[entry])
