"""Prometheus metrics at /metrics: off by default, labelled by route template, token-guarded in
production, and summed over workers in multiprocess mode."""

import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from app.core.config import Settings
from tests import factories
from tests.helpers import (
    PASSWORD,
    Account,
    assert_unauthorized,
    bearer,
    client_for,
    login,
    make_settings,
    production_settings,
    running_app,
)

TOKEN = "a-scraper-token-of-at-least-32-characters"
RESOURCE, RESOURCE_URL = next(iter(factories.PATHS.items()))
ROW_ROUTE = RESOURCE_URL + "/{" + RESOURCE + "_id}"  # the route of one row


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, metrics_enabled=True)


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def value(scraped: str, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels, parsed as Prometheus would; 0 if absent."""
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def test_metrics_are_off_by_default(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as app, client_for(app) as client:
        r = await client.get("/metrics")

    assert r.status_code == 404, r.text


async def test_requests_are_counted_under_their_route_template(
    client: httpx.AsyncClient, user: Account
) -> None:
    labels = {"method": "GET", "route": ROW_ROUTE, "status": "404"}
    ids = [str(uuid4()), str(uuid4())]
    before = await scrape(client)
    for row_id in ids:
        r = await client.get(f"{RESOURCE_URL}/{row_id}", headers=user.headers)
        assert r.status_code == 404, r.text
    after = await scrape(client)

    assert value(after, "http_requests_total", **labels) == value(
        before, "http_requests_total", **labels
    ) + len(ids)
    count = "http_request_duration_seconds_count"
    assert value(after, count, **labels) == value(before, count, **labels) + len(ids)
    for row_id in ids:
        assert row_id not in after


async def test_unmatched_paths_share_one_label(client: httpx.AsyncClient) -> None:
    labels = {"method": "OTHER", "route": "unmatched", "status": "404"}
    before = await scrape(client)
    path = f"/no-such-page-{uuid4().hex}"
    r = await client.request("BREW", path)
    after = await scrape(client)

    assert r.status_code == 404, r.text
    assert value(after, "http_requests_total", **labels) == (
        value(before, "http_requests_total", **labels) + 1
    )
    assert path not in after
    assert "BREW" not in after


async def test_the_scrape_itself_is_in_flight(client: httpx.AsyncClient) -> None:
    assert value(await scrape(client), "http_requests_in_flight") == 1


async def test_pool_use_is_counted(app: FastAPI, client: httpx.AsyncClient) -> None:
    settings: Settings = app.state.settings
    idle = await scrape(client)
    async with app.state.sessionmaker() as session:
        await session.connection()
        busy = await scrape(client)
    done = await scrape(client)

    in_use = "db_pool_checked_out_connections"
    assert value(busy, in_use) == value(idle, in_use) + 1
    assert value(done, in_use) == value(idle, in_use)
    most = settings.db_pool_size + settings.db_max_overflow
    assert value(done, "db_pool_max_connections") == most


async def test_sign_ins_are_counted_by_outcome(client: httpx.AsyncClient, user: Account) -> None:
    failed = {"outcome": "failed"}
    succeeded = {"outcome": "succeeded"}
    before = await scrape(client)
    assert (await login(client, user.email, "not the password")).status_code == 401
    assert (await login(client, user.email, PASSWORD)).status_code == 200
    after = await scrape(client)

    name = "auth_sign_ins_total"
    assert value(after, name, **failed) == value(before, name, **failed) + 1
    assert value(after, name, **succeeded) == value(before, name, **succeeded) + 1


async def test_refresh_token_reuse_is_counted(client: httpx.AsyncClient, user: Account) -> None:
    before = await scrape(client)
    for _ in range(2):
        await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    after = await scrape(client)

    name = "auth_refresh_token_reuse_total"
    assert value(after, name) == value(before, name) + 1


async def test_rate_limited_requests_are_counted_by_limit(database_url: str) -> None:
    settings = make_settings(database_url, metrics_enabled=True, login_rate_limit="1/minute")
    async with running_app(settings) as app, client_for(app) as client:
        before = await scrape(client)
        for _ in range(2):
            r = await login(client, "ada@example.com", "guess")
        after = await scrape(client)

    assert r.status_code == 429, r.text
    name = "rate_limited_requests_total"
    assert value(after, name, limit="login") == value(before, name, limit="login") + 1


async def test_metrics_stay_out_of_the_api_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")

    assert r.status_code == 200, r.text
    assert "/metrics" not in r.json()["paths"]


async def test_production_serves_metrics_to_the_token_only(database_url: str) -> None:
    settings = production_settings(database_url, metrics_enabled=True, metrics_token=TOKEN)
    refused = {"method": "GET", "route": "/metrics", "status": "401"}
    async with running_app(settings) as app, client_for(app) as client:
        before = await scrape(client, **bearer(TOKEN))
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers=bearer(TOKEN[:-1]))
        after = await scrape(client, **bearer(TOKEN))

    assert_unauthorized(anonymous)
    assert_unauthorized(wrong)
    name = "http_requests_total"
    assert value(after, name, **refused) == value(before, name, **refused) + 2


@pytest.mark.parametrize("token", ["", "too-short"])
def test_production_refuses_metrics_without_a_strong_token(token: str) -> None:
    with pytest.raises(ValidationError, match="METRICS_ENABLED needs METRICS_TOKEN"):
        production_settings(metrics_enabled=True, metrics_token=token)

    assert not production_settings(metrics_token=token).metrics_enabled


# Run as its own process: prometheus-client picks its mode when it is first imported.
WORKER = """
import sys
from app.core import metrics

metrics.SIGN_INS_FAILED.inc()
metrics.POOL_MAX.set(15)
if sys.argv[1] == "exits":
    metrics.forget_this_process()
else:
    sys.stdout.write(metrics.exposition().decode())
"""


def test_workers_share_their_counts_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    project = Path(__file__).parent.parent

    def worker(role: str) -> str:
        command = [sys.executable, "-c", WORKER, role]
        done = subprocess.run(  # noqa: S603 (this interpreter, our own script)
            command, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    worker("exits")
    scraped = worker("scrapes")

    # Counts add up across workers; a gauge counts live workers only.
    assert value(scraped, "auth_sign_ins_total", outcome="failed") == 2
    assert value(scraped, "db_pool_max_connections") == 15
