"""One throwaway database per test, the app on it, an HTTP client, and signed-in users.

SQLite by default: a fresh file under the test's `tmp_path`. With `TEST_DATABASE_URL` set to a
PostgreSQL server, each test gets a fresh schema there, dropped afterwards, and touches nothing
else on that server. The rate-limit tests also run on the Redis of `TEST_REDIS_URL`, under a key
prefix of their own; without it they are skipped, unless `CI=true`, where that is a failure.
Test settings never come from `.env`, `DATABASE_URL` or `REDIS_URL`, so no test can reach the
application's own database or Redis. Mail goes to the log unless a test points `SMTP_URL` at the
`mailbox` fixture, a real SMTP server on 127.0.0.1 (tests/mailbox.py).
"""

import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import sqlalchemy
from fastapi import FastAPI
from sqlalchemy import Connection, event, text
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app import models  # noqa: F401 (puts every table on SQLModel.metadata)
from app.auth import service
from app.auth.models import Role, User
from app.core.config import Settings
from app.core.db import async_url, driver_options
from app.core.security import password_context
from tests.helpers import (
    BEHIND_TRANSACTION_POOLER,
    PASSWORD,
    Account,
    MakeAccount,
    SignInAgain,
    client_for,
    make_settings,
    running_app,
)
from tests.mailbox import Mailbox, running_mailbox


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test's arguments only, whatever the shell exports."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def work_in_schema(server: sqlalchemy.Engine, schema: str) -> Callable[[Connection], None]:
    """Make every transaction of every other engine run inside `schema`; returns the listener.

    A per-transaction `SET LOCAL` rather than libpq's `options`: a transaction-mode pooler
    (PgBouncer) refuses that start-up option and hands each transaction any server connection.
    """

    def set_search_path(connection: Connection) -> None:
        if connection.engine is server:
            return
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("SELECT set_config('search_path', %s, true)", (schema,))
        finally:
            cursor.close()

    event.listen(sqlalchemy.Engine, "begin", set_search_path)
    return set_search_path


@dataclass(frozen=True)
class PostgresServer:
    url: str  # as given in TEST_DATABASE_URL
    engine: sqlalchemy.Engine  # synchronous, for creating and dropping schemas


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """The server of `TEST_DATABASE_URL`, or None to use SQLite."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    server_url = async_url(url)
    if server_url.get_backend_name() != "postgresql":
        pytest.fail("TEST_DATABASE_URL must be a PostgreSQL URL; unset it to test on SQLite")
    # psycopg serves sync engines too.
    options = driver_options(server_url, transaction_pooler=BEHIND_TRANSACTION_POOLER)
    engine = sqlalchemy.create_engine(server_url, connect_args=options)
    try:
        yield PostgresServer(url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with every table and no rows, built once: copying it beats creating."""
    path = tmp_path_factory.mktemp("schema") / "empty.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        SQLModel.metadata.create_all(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def database_url(
    postgres_server: PostgresServer | None, sqlite_schema: Path, tmp_path: Path
) -> Iterator[str]:
    """The URL of a database with empty tables that lives for this test only."""
    if postgres_server is None:
        path = tmp_path / "test.db"
        shutil.copyfile(sqlite_schema, path)
        yield f"sqlite:///{path}"
        return
    schema = f"test_{uuid4().hex}"
    with postgres_server.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        SQLModel.metadata.create_all(connection, checkfirst=False)
    listener = work_in_schema(postgres_server.engine, schema)
    try:
        yield postgres_server.url
    finally:
        event.remove(sqlalchemy.Engine, "begin", listener)
        with postgres_server.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash of PASSWORD for every factory-made user: hashing costs tens of ms."""
    return password_context.hash(PASSWORD)


async def open_session(app: FastAPI, session: AsyncSession, user: User, password: str) -> Account:
    """A new sign-in session for `user`, straight from the service (no slow password check)."""
    tokens = await service.start_session(session=session, settings=app.state.settings, user=user)
    return Account(
        id=user.id,
        email=user.email,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        password=password,
    )


@pytest.fixture
def make_account(app: FastAPI, password_hash: str) -> MakeAccount:
    """Create a user straight in the database and open a session for them (no slow login)."""

    async def make(*, role: Role = Role.USER, email: str | None = None) -> Account:
        async with app.state.sessionmaker() as session:
            user = User(
                email=email or f"user-{uuid4().hex[:12]}@example.com",
                password_hash=password_hash,
                role=role,
            )
            session.add(user)
            await session.commit()
            return await open_session(app, session, user, PASSWORD)

    return make


@pytest.fixture
def sign_in_again(app: FastAPI) -> SignInAgain:
    """Another session of the same user, as from a second device."""

    async def sign_in(account: Account) -> Account:
        async with app.state.sessionmaker() as session:
            user = await session.get(User, account.id)
            assert user is not None
            return await open_session(app, session, user, account.password)

    return sign_in


@pytest.fixture
async def user(make_account: MakeAccount) -> Account:
    return await make_account(email="ada@example.com")


@pytest.fixture
async def other_user(make_account: MakeAccount) -> Account:
    return await make_account(email="grace@example.com")


@pytest.fixture
async def admin(make_account: MakeAccount) -> Account:
    return await make_account(role=Role.ADMIN, email="admin@example.com")


@pytest.fixture
def redis_settings() -> dict[str, str]:
    """Settings that keep rate-limit counts in the Redis of `TEST_REDIS_URL`, under a new prefix."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        reason = (
            "TEST_REDIS_URL is not set: set it to a Redis server, e.g. redis://127.0.0.1:6379/0"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return {"redis_url": url, "rate_limit_key_prefix": f"test-{uuid4().hex}"}


@pytest.fixture(params=["memory", "redis"])
def limiter_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Each rate-limit store in turn: this process's memory, then Redis."""
    if request.param == "memory":
        return {}
    settings: dict[str, str] = request.getfixturevalue("redis_settings")
    return settings


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    """A real SMTP server on 127.0.0.1; `mailbox.url` is the SMTP_URL that reaches it."""
    async with running_mailbox() as server:
        yield server


@pytest.fixture
def app_records(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, seeing the `app` loggers (which otherwise write only to their own handler)."""
    monkeypatch.setattr(logging.getLogger("app"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="app"):
        yield caplog
