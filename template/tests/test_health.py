"""Liveness and readiness probes: no token needed, and readiness asks the database."""

import httpx
import pytest

from tests.helpers import (
    UNREACHABLE_DATABASE,
    assert_problem,
    client_for,
    make_settings,
    running_app,
)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_probes_answer_ok(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_probes_answer_head(client: httpx.AsyncClient, path: str) -> None:
    r = await client.head(path)

    assert r.status_code == 200, r.text


async def test_readiness_fails_without_the_database() -> None:
    settings = make_settings(UNREACHABLE_DATABASE)
    async with running_app(settings) as application, client_for(application) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")

    assert live.status_code == 200, live.text
    assert_problem(ready, 503, "The database is unavailable.")
    assert "127.0.0.1" not in ready.text
