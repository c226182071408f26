"""Prometheus metrics: requests by route template, the database pool, and auth events.

With `METRICS_ENABLED=true`, app.main installs the request middleware, the pool listeners and the
`/metrics` route; off, none of them exists and the auth counters below only count in memory.
Under `uvicorn --workers N`, point `PROMETHEUS_MULTIPROC_DIR` at an empty directory that every
worker shares: prometheus-client then keeps each worker's values in files there, and whichever
worker answers a scrape reads them all (the gauges sum the live workers).
"""

import hmac
import os
import time
from typing import Annotated

from fastapi import FastAPI, Header, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import AuthenticationError

# Labels take these methods as sent and any other as "OTHER", and a request that no route
# answered (a 404, a mounted app's file) as "unmatched": a label never holds what a client made
# up, so series stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
REQUEST_LABELS = ("method", "route", "status")
# What `url_path_for` raises for a nameless route, or a path parameter with a converter.
UNRESOLVED = (NoMatchFound, ValueError)

REQUESTS = Counter("http_requests", "HTTP requests answered.", REQUEST_LABELS)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.", REQUEST_LABELS
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight", "HTTP requests being answered.", multiprocess_mode="livesum"
)
POOL_CHECKED_OUT = Gauge(
    "db_pool_checked_out_connections",
    "Database connections in use.",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "db_pool_max_connections",
    "Database connections the pools may open: DB_POOL_SIZE + DB_MAX_OVERFLOW per process.",
    multiprocess_mode="livesum",
)
SIGN_INS = Counter("auth_sign_ins", "Sign-in attempts, by outcome.", ["outcome"])
SIGN_INS_SUCCEEDED = SIGN_INS.labels(outcome="succeeded")
SIGN_INS_FAILED = SIGN_INS.labels(outcome="failed")
REFRESH_TOKEN_REUSE = Counter(
    "auth_refresh_token_reuse", "Spent refresh tokens presented again; each ends its session."
)
RATE_LIMITED = Counter(
    "rate_limited_requests", "Requests refused with a 429, by the limit they hit.", ["limit"]
)


def full_template(scope: Scope, route: BaseRoute) -> str:
    """The path template of the matched `route` from the app's root, "/api/v1/todos/{todo_id}":
    the route of an included router may know only its own part, "/todos/{todo_id}"."""
    placeholders = {name: "{" + name + "}" for name in scope.get("path_params", {})}
    try:
        return str(scope["app"].url_path_for(getattr(route, "name", ""), **placeholders))
    except UNRESOLVED:
        return str(getattr(route, "path", UNMATCHED))


class MetricsMiddleware:
    """Counts and times each HTTP request under its route template, never its raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Each route's template, by the route's id, worked out the first time it answers.
        self.templates: dict[int, str] = {}

    def route_template(self, scope: Scope) -> str:
        # The router puts the matched route in the scope.
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        template = self.templates.get(id(route))
        if template is None:
            template = self.templates[id(route)] = full_template(scope, route)
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before it answers

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            IN_FLIGHT.dec()
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            labels = (method, self.route_template(scope), str(status))
            REQUESTS.labels(*labels).inc()
            REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)


def _checked_out(*_: object) -> None:
    POOL_CHECKED_OUT.inc()


def _checked_in(*_: object) -> None:
    POOL_CHECKED_OUT.dec()


def watch_pool(engine: AsyncEngine, max_connections: int) -> None:
    """Count the pool's connections in use as they are checked out and back in."""
    POOL_MAX.set(max_connections)
    event.listen(engine.sync_engine, "checkout", _checked_out)
    event.listen(engine.sync_engine, "checkin", _checked_in)


def exposition() -> bytes:
    """Every metric in Prometheus's text format: all workers' in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_this_process() -> None:
    """At shutdown: drop this worker's gauges from the sums, in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        mark_process_dead(os.getpid())


def install_metrics(app: FastAPI, engine: AsyncEngine, settings: Settings) -> None:
    """Count every request and the pool's use; serve them at /metrics, to holders of
    METRICS_TOKEN when it is set (production requires it)."""
    app.add_middleware(MetricsMiddleware)
    watch_pool(engine, settings.db_pool_size + settings.db_max_overflow)
    token = settings.metrics_token.get_secret_value()
    expected = f"Bearer {token}".encode()

    # A plain `def`, so FastAPI runs it in a thread: multiprocess mode reads files.
    def read_metrics(authorization: Annotated[str, Header()] = "") -> Response:
        if token and not hmac.compare_digest(authorization.encode(), expected):
            raise AuthenticationError
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    # Outside the API document: scrapers are not API clients.
    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)
