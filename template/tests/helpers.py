"""What the tests share besides fixtures: the test settings, accounts and error-body checks."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI

from app.auth.models import User
from app.core.config import Settings
from app.main import create_app
from tests.tokens import KEY_SETTINGS

PASSWORD = "correct horse battery staple"
UNAUTHORIZED = "Could not validate credentials"
SIGN_IN_FAILED = "Incorrect email or password"
INVALID = "The request is not valid; see errors."
PROBLEM_JSON = "application/problem+json"
# Nothing listens on port 1, so connecting fails at once; the error names host and user.
UNREACHABLE_DATABASE = "postgresql://nobody:hunter2@127.0.0.1:1/nothing"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings from arguments only: no `.env`, no `DATABASE_URL`."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        **KEY_SETTINGS,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app on the test's database, its engine disposed after."""
    application = create_app(settings)
    try:
        yield application
    finally:
        await application.state.rate_limiter.aclose()
        await application.state.engine.dispose()


@asynccontextmanager
async def client_for(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@dataclass(frozen=True)
class Account:
    """A user the tests signed in, with the tokens of one session."""

    id: UUID
    email: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


# Fixture types: `make_account(role=..., email=...)` and `sign_in_again(account)`.
MakeAccount = Callable[..., Awaitable[Account]]
SignInAgain = Callable[[Account], Awaitable[Account]]


async def change_user(application: FastAPI, user_id: UUID, **changes: Any) -> None:
    """Change a user's row behind the API's back, e.g. to disable them."""
    async with application.state.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.sqlmodel_update(changes)
        await session.commit()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(
    response: httpx.Response, status: int, detail: str | None = None, **extra: Any
) -> None:
    """The whole RFC 9457 body, with the request id the response header carries."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    expected: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        **extra,
        "request_id": response.headers["x-request-id"],
    }
    if detail is not None:
        expected["detail"] = detail
    assert response.json() == expected


def assert_unauthorized(response: httpx.Response, detail: str = UNAUTHORIZED) -> None:
    """The one 401 of every bad, missing, expired or revoked credential."""
    assert_problem(response, 401, detail)
    assert response.headers["www-authenticate"] == "Bearer"


def assert_invalid(response: httpx.Response, *errors: dict[str, Any]) -> None:
    """A 422 whose errors are exactly these, each `{loc, type, msg}` and nothing more."""
    assert_problem(response, 422, INVALID, errors=list(errors))


def error_locations(response: httpx.Response) -> list[list[str | int]]:
    """The `loc` of each validation error, after checking the 422 body around them."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert_problem(response, 422, INVALID, errors=body.get("errors"))
    for error in body["errors"]:
        # Only these keys: FastAPI's default also echoes the submitted `input`.
        assert sorted(error) == ["loc", "msg", "type"]
    return [error["loc"] for error in body["errors"]]


def missing(*loc: str | int) -> dict[str, Any]:
    return {"loc": list(loc), "type": "missing", "msg": "Field required"}


def extra_forbidden(*loc: str | int) -> dict[str, Any]:
    return {"loc": list(loc), "type": "extra_forbidden", "msg": "Extra inputs are not permitted"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in through the API, as a client would: the OAuth2 password form."""
    form = {"username": email, "password": password}
    return await client.post("/api/v1/auth/login", data=form)
