"""OpenTelemetry traces, sent to the collector that OTEL_EXPORTER_OTLP_ENDPOINT names.

One span per request, named by its route template ("GET /api/v1/todos/{todo_id}") and carrying
the request id, with a child span per SQL statement: its text with placeholders, never the bound
values. The packages are the `tracing` extra (`uv sync --extra tracing`); app.main imports this
module only when the endpoint is set, so a project without them runs as before. The SDK reads the
other standard variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, ...)
from the process environment.
"""

import os

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

try:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError as error:
    raise ImportError(
        "OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing packages are missing: install them"
        " with `uv sync --extra tracing`, or unset OTEL_EXPORTER_OTLP_ENDPOINT"
    ) from error

# The response header that asgi-correlation-id sets; spans carry it as an attribute.
REQUEST_ID_HEADER = "x-request-id"


def install_tracing(app: FastAPI, engine: AsyncEngine, provider: TracerProvider) -> None:
    """Trace each request of `app`, and each statement that `engine` runs, into `provider`."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        # One span a request: none for each chunk of the body received or sent.
        exclude_spans=["receive", "send"],
        http_capture_headers_server_response=[REQUEST_ID_HEADER],
    )
    # The instrumentation declares SQLAlchemy < 2.1, but 2.1 keeps the events it listens to;
    # tests/test_tracing.py checks its spans on the version installed.
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )


def otlp_provider(endpoint: str, service_name: str) -> TracerProvider:
    """Spans batched to the collector at `endpoint`, and this provider made the global one."""
    resource = Resource.create()
    if str(resource.attributes[SERVICE_NAME]).startswith("unknown_service"):
        # OTEL_SERVICE_NAME names the service when set; the project's name otherwise.
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    # OTLP over HTTP puts traces under /v1/traces, unless their own variable says otherwise.
    traces_url = f"{endpoint.rstrip('/')}/v1/traces"
    traces_url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces_url)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    trace.set_tracer_provider(provider)
    return provider
