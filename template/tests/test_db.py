"""Database URLs as providers give them, and the engine the settings describe."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool
from sqlmodel.main import default_registry

from app.auth import service
from app.auth.models import User
from app.core import db
from app.core.db import DatabaseURLError, async_url, create_engine, driver_options
from app.core.models import Schema
from tests.helpers import BEHIND_TRANSACTION_POOLER, Account, make_settings

NEON_POOLED = (
    "postgresql://app:s3cret-pw@ep-cool-1-pooler.eu-central-1.aws.neon.tech/db"
    "?sslmode=require&channel_binding=require"
)


@pytest.mark.parametrize(
    ("pasted", "driver"),
    [
        ("sqlite:///./app.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///./app.db", "sqlite+aiosqlite"),
        ("postgres://app:pw@db.example.com:5432/app", "postgresql+psycopg"),
        ("postgresql://app:pw@db.example.com/app", "postgresql+psycopg"),
        ("postgresql+psycopg2://app:pw@db.example.com/app", "postgresql+psycopg"),
    ],
)
def test_pasted_urls_get_the_async_driver(pasted: str, driver: str) -> None:
    assert async_url(pasted).drivername == driver


def test_neon_pooled_url_keeps_its_tls_options() -> None:
    url = async_url(NEON_POOLED)

    assert url.query == {"sslmode": "require", "channel_binding": "require"}
    assert url.host == "ep-cool-1-pooler.eu-central-1.aws.neon.tech"


def test_a_pooler_host_or_the_setting_turns_prepared_statements_off() -> None:
    pgbouncer = async_url("postgresql://app@127.0.0.1:6432/db")

    assert driver_options(async_url(NEON_POOLED)) == {"prepare_threshold": None}
    assert driver_options(pgbouncer, transaction_pooler=True) == {"prepare_threshold": None}
    assert driver_options(pgbouncer) == {}
    assert driver_options(async_url("postgresql://app@ep-cool-1.aws.neon.tech/db")) == {}
    assert driver_options(async_url("sqlite:///./app.db"), transaction_pooler=True) == {}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("mysql://app:s3cret-pw@db.example.com/app", "scheme 'mysql' is not supported"),
        ("postgresql://app:s3cret-pw@/app", "has no host"),
        ("not a url", "is not a URL"),
    ],
)
def test_bad_urls_are_named_without_the_password(bad: str, message: str) -> None:
    with pytest.raises(DatabaseURLError, match=message) as refusal:
        async_url(bad)

    assert "s3cret-pw" not in str(refusal.value)


async def test_the_pool_follows_the_settings() -> None:
    settings = make_settings(
        "postgresql://app@db.example.com/app",
        db_pool_size=3,
        db_max_overflow=2,
        db_pool_timeout=4.5,
        db_pool_recycle=60,
        db_pool_pre_ping=False,
    )
    engine = create_engine(settings)
    try:
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool.timeout()) == (3, 4.5)
        assert (pool._max_overflow, pool._recycle, pool._pre_ping) == (2, 60, False)
    finally:
        await engine.dispose()


async def test_a_sqlite_file_logs_ahead_and_keeps_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(make_settings(f"sqlite:///{tmp_path / 'app.db'}"))
    try:
        async with engine.connect() as connection:
            journal = await connection.exec_driver_sql("PRAGMA journal_mode")
            foreign_keys = await connection.exec_driver_sql("PRAGMA foreign_keys")
            assert (journal.scalar_one(), foreign_keys.scalar_one()) == ("wal", 1)
    finally:
        await engine.dispose()


async def test_sql_errors_carry_no_row_values(app: FastAPI, user: Account) -> None:
    """A failed statement is logged with its error, so the values it sent must stay out of it."""
    async with app.state.sessionmaker() as session:
        session.add(User(email=user.email, password_hash="argon2-hash-of-a-duplicate"))
        with pytest.raises(IntegrityError) as caught:
            await session.commit()

    assert "argon2-hash-of-a-duplicate" not in str(caught.value)


def count_checkouts(app: FastAPI) -> list[object]:
    """One entry for each connection the app takes from its pool from now on."""
    checkouts: list[object] = []

    def checked_out(dbapi_connection: object, *_: Any) -> None:
        checkouts.append(dbapi_connection)

    event.listen(app.state.engine.sync_engine, "checkout", checked_out)
    return checkouts


async def test_a_request_takes_one_connection_and_gives_it_back(
    app: FastAPI, client: httpx.AsyncClient, user: Account, admin: Account
) -> None:
    """The caller's check and the route's session share one connection, returned to the pool
    however the request ends: an answer, a refused body, or a change."""
    checkouts = count_checkouts(app)

    answers = [
        await client.get("/api/v1/users/me", headers=user.headers),
        await client.patch("/api/v1/users/me", headers=user.headers, json={"full_name": "Ada"}),
        await client.patch("/api/v1/users/me", headers=user.headers, json={"role": "admin"}),
        await client.get("/api/v1/admin/users", headers=admin.headers),
    ]

    assert [r.status_code for r in answers] == [200, 200, 422, 200]
    assert len(checkouts) == len(answers)
    assert app.state.engine.pool.checkedout() == 0


async def test_a_request_that_fails_midway_gives_its_connection_back(
    app: FastAPI, client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: object) -> None:
        raise RuntimeError("a bug after the connection was taken")

    monkeypatch.setattr(service, "get_caller", broken)
    checkouts = count_checkouts(app)

    r = await client.get("/api/v1/admin/users", headers=user.headers)

    assert r.status_code == 500, r.text
    assert len(checkouts) == 1
    assert app.state.engine.pool.checkedout() == 0


async def test_a_request_without_a_valid_token_takes_no_connection(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A flood of unauthenticated requests cannot hold the pool's connections."""
    checkouts = count_checkouts(app)
    forged = {"Authorization": "Bearer not-a-token"}

    answers = [
        await client.get("/api/v1/users/me"),
        await client.get("/api/v1/users/me/sessions", headers=forged),
        await client.get("/api/v1/admin/users", headers=forged),
    ]

    assert [r.status_code for r in answers] == [401, 401, 401]
    assert checkouts == []


async def backend_of_pooled_connection(app: FastAPI) -> int:
    """The server process behind the only connection left in the app's pool."""
    engine = app.state.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("only a database server closes connections: SQLite's never go stale")
    if BEHIND_TRANSACTION_POOLER:
        pytest.skip("behind a transaction pooler, the pooler replaces closed server connections")
    await engine.dispose()
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def close_from_the_server(app: FastAPI, pid: int) -> None:
    """What a restart, a failover or an idle timeout (Neon's) does to a pooled connection."""
    killer = create_engine(app.state.settings)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_an_idle_connection_the_server_closed_is_replaced_unseen(
    app: FastAPI, client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = await backend_of_pooled_connection(app)
    await close_from_the_server(app, stale)
    monkeypatch.setattr(db, "IDLE_CHECK_SECONDS", 0.0)  # as if it sat idle for a while

    r = await client.get("/api/v1/users/me", headers=user.headers)

    assert r.status_code == 200, r.text
    async with app.state.engine.connect() as connection:
        fresh = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert fresh != stale


async def test_a_connection_that_fails_its_idle_check_is_replaced(
    app: FastAPI, client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On any database: a connection idle long enough is checked, and one that fails the check
    is swapped for a new one before the request uses it."""
    failed_checks: list[object] = []

    def closed_by_the_server(dbapi_connection: object) -> bool:
        failed_checks.append(dbapi_connection)
        raise ConnectionResetError("server closed the connection")

    monkeypatch.setattr(db, "IDLE_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(app.state.engine.sync_engine.dialect, "do_ping", closed_by_the_server)

    r = await client.get("/api/v1/users/me", headers=user.headers)

    assert r.status_code == 200, r.text
    assert len(failed_checks) == 1  # the new connection is not checked again


async def test_a_list_of_a_tables_own_columns_builds_no_orm_objects(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    """`paginate_rows` validates plain rows into the public schema: building a `User` for each
    one cost 15% of a list (docs/performance.md)."""
    loaded: list[User] = []

    def note_load(target: User, _context: Any) -> None:
        loaded.append(target)

    event.listen(User, "load", note_load)
    try:
        r = await client.get("/api/v1/admin/users", headers=admin.headers)
    finally:
        event.remove(User, "load", note_load)

    assert r.status_code == 200, r.text
    assert {item["email"] for item in r.json()["items"]} == {admin.email, user.email}
    assert loaded == []


def test_no_table_is_built_on_schema() -> None:
    """`Schema` leaves out SQLModel's constructor, which gives a table's row its SQLAlchemy
    state: a row of such a table would never be saved. Tables derive from `SQLModel`."""
    tables = {mapper.class_ for mapper in default_registry.mappers}

    assert User in tables
    assert {table for table in tables if issubclass(table, Schema)} == set()
