"""The async engine and sessions, from whatever database URL the provider gave."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings

ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}


class DatabaseURLError(ValueError):
    """A database URL the app cannot use; the message never contains the password."""


def async_url(url: str) -> URL:
    """Map a pasted URL (`postgres://`, `postgresql://`, `sqlite:///`) to an async driver.

    Query options such as `sslmode` and `channel_binding` are kept: psycopg reads them like libpq.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            "DATABASE_URL is not a URL, e.g. postgresql://user:pass@host/db"
        ) from None
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in ASYNC_DRIVERS:
        raise DatabaseURLError(
            f"DATABASE_URL scheme {backend!r} is not supported: use sqlite or postgresql"
        )
    if backend != "sqlite" and not parsed.host:
        raise DatabaseURLError(
            f"DATABASE_URL has no host: {parsed.render_as_string(hide_password=True)}"
        )
    return parsed.set(drivername=ASYNC_DRIVERS[backend])


def driver_options(url: URL) -> dict[str, Any]:
    """Neon's `-pooler` hosts run PgBouncer in transaction mode: no prepared statements there."""
    return {"prepare_threshold": None} if "-pooler." in (url.host or "") else {}


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The async engine for `url` (default: `DATABASE_URL`), pooled as the settings say."""
    async_database_url = async_url(url or settings.database_url)
    engine = create_async_engine(
        async_database_url,
        connect_args=driver_options(async_database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        # A failed statement's error reaches the log: keep row values (hashes, secrets) out of it.
        hide_parameters=True,
    )
    if async_database_url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless each connection asks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the service that completes a use case commits."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
