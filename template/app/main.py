"""The application: settings, middleware, error handlers and routes, wired together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import health
from app.api import api_router
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.docs import install_docs
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import (
    RequestBodyMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    ServerErrorMiddleware,
)
from app.core.rate_limit import RateLimiter


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    engine = create_engine(settings)
    rate_limiter = RateLimiter(settings.redis_url, key_prefix=settings.rate_limit_key_prefix)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await rate_limiter.aclose()
        await engine.dispose()

    openapi_url = "/openapi.json" if settings.show_docs else None
    # FastAPI's own docs pages load from a CDN; install_docs serves them from this app.
    app = FastAPI(
        title=settings.project_name,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi_url,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.rate_limiter = rate_limiter

    install_error_handlers(app)
    if openapi_url:
        install_docs(app, openapi_url=openapi_url)
    app.include_router(health.router)
    app.include_router(api_router)

    # The last added runs first: ids, then headers, then CORS, limits and the 500 catch-all.
    app.add_middleware(ServerErrorMiddleware)
    app.add_middleware(RequestBodyMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if settings.trusted_proxies:
        # Outermost, so rate limits and logs see the client that a trusted proxy names. Serve
        # with `--no-proxy-headers`: this setting, not the server's default, decides whom to trust.
        trusted = [str(network) for network in settings.trusted_proxies]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    return app


app = create_app()
