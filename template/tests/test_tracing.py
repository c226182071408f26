"""OpenTelemetry traces: a span per request named by its route template, with the request id, and
SQL spans beneath it that never hold a bound value."""

import sys
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core import tracing
from app.core.config import Settings
from app.main import create_app
from tests import factories
from tests.helpers import PASSWORD, Account, client_for, make_settings, running_app

COLLECTOR = "http://collector.invalid:4318"
RESOURCE, RESOURCE_URL = next(iter(factories.PATHS.items()))
ROW_ROUTE = RESOURCE_URL + "/{" + RESOURCE + "_id}"  # the route of one row


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The spans of the app the `settings` below make, kept in memory rather than sent."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(tracing, "otlp_provider", lambda *_: provider)
    yield spans
    SQLAlchemyInstrumentor().uninstrument()


@pytest.fixture
def settings(database_url: str, exporter: InMemorySpanExporter) -> Settings:
    return make_settings(database_url, otel_exporter_otlp_endpoint=COLLECTOR)


def server_span(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [span for span in spans if span.kind == SpanKind.SERVER and span.name == name]
    return span


def sql_spans(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.kind == SpanKind.CLIENT
        and span.parent is not None
        and span.parent.span_id == parent.context.span_id
    ]


async def test_a_request_span_is_named_by_its_route_template(
    client: httpx.AsyncClient, user: Account, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    r = await client.get(f"{RESOURCE_URL}/{uuid4()}", headers=user.headers)

    assert r.status_code == 404, r.text
    span = server_span(exporter.get_finished_spans(), f"GET {ROW_ROUTE}")
    assert span.attributes is not None
    assert span.attributes["http.route"] == ROW_ROUTE
    assert span.attributes["http.response.header.x_request_id"] == (r.headers["x-request-id"],)


async def test_sql_spans_hold_statements_without_their_values(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    marker = uuid4().hex
    email = f"tracer-{marker}@example.com"
    body = {"email": email, "password": PASSWORD, "full_name": f"Tracer {marker}"}
    r = await client.post("/api/v1/auth/register", json=body)

    assert r.status_code == 201, r.text
    spans = exporter.get_finished_spans()
    request = server_span(spans, "POST /api/v1/auth/register")
    statements = [
        str((span.attributes or {}).get("db.statement")) for span in sql_spans(spans, request)
    ]
    inserts = [statement for statement in statements if statement.startswith("INSERT INTO")]
    assert inserts, statements
    for insert in inserts:
        assert "?" in insert or "%(" in insert, insert  # placeholders, SQLite's or psycopg's
    for span in spans:
        for name, value in (span.attributes or {}).items():
            assert marker not in str(value), (span.name, name)
            assert PASSWORD not in str(value), (span.name, name)


async def test_without_an_endpoint_nothing_is_traced(
    database_url: str, exporter: InMemorySpanExporter
) -> None:
    async with running_app(make_settings(database_url)) as app, client_for(app) as client:
        r = await client.get("/health/ready")

    assert r.status_code == 200, r.text
    assert exporter.get_finished_spans() == ()


def test_a_missing_extra_stops_the_start_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
    monkeypatch.delitem(sys.modules, "app.core.tracing")
    settings = make_settings(database_url, otel_exporter_otlp_endpoint=COLLECTOR)

    with pytest.raises(ImportError, match="uv sync --extra tracing"):
        create_app(settings)


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({}, f"{COLLECTOR}/v1/traces"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces.invalid/in"},
            "http://traces.invalid/in",
        ),
    ],
)
def test_spans_are_sent_where_the_otel_variables_say(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str
) -> None:
    sent_to: list[str] = []

    def exporter(endpoint: str) -> InMemorySpanExporter:
        sent_to.append(endpoint)
        return InMemorySpanExporter()

    monkeypatch.setattr(tracing, "OTLPSpanExporter", exporter)
    monkeypatch.setattr(trace, "set_tracer_provider", lambda _: None)  # leave the global alone
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    provider = tracing.otlp_provider(f"{COLLECTOR}/", "Tracer API")
    provider.shutdown()

    assert sent_to == [url]
    assert provider.resource.attributes["service.name"] == "Tracer API"
