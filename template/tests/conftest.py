"""One throwaway database per test, the app on it, an HTTP client, and signed-in users.

SQLite by default: a fresh file under the test's `tmp_path`. With `TEST_DATABASE_URL` set to a
PostgreSQL server, each test gets a fresh schema there, dropped afterwards. No test reads `.env`
or `DATABASE_URL`, so no test can reach a real database.
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.auth import service
from app.auth.models import Role, User
from app.core.config import Settings
from app.core.db import create_engine
from app.core.security import password_context
from tests.helpers import (
    PASSWORD,
    Account,
    MakeAccount,
    SignInAgain,
    client_for,
    make_settings,
    running_app,
)


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test's arguments only, whatever the shell exports."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def in_schema(url: str, schema: str) -> str:
    """`url` with libpq's `options` set so every connection works inside `schema`."""
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database that lives for this test only."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema = f"test_{uuid4().hex}"
    await _execute(server_url, f'CREATE SCHEMA "{schema}"')
    try:
        yield in_schema(server_url, schema)
    finally:
        await _execute(server_url, f'DROP SCHEMA "{schema}" CASCADE')


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
            tokens = await service.start_session(
                session=session, settings=app.state.settings, user=user
            )
        return Account(
            id=user.id,
            email=user.email,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
        )

    return make


@pytest.fixture
def sign_in_again(app: FastAPI) -> SignInAgain:
    """Another session of the same user, as from a second device."""

    async def sign_in(account: Account) -> Account:
        async with app.state.sessionmaker() as session:
            user = await session.get(User, account.id)
            assert user is not None
            tokens = await service.start_session(
                session=session, settings=app.state.settings, user=user
            )
        return Account(
            id=account.id,
            email=account.email,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            password=account.password,
        )

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
