"""Two instances of a render behind one load balancer act as one service.

The default render is migrated onto a fresh PostgreSQL database and served by two uvicorn
processes on two loopback ports, with one `SECRET_KEY`, that database and the Redis of
`TEST_REDIS_URL`. Nothing a request changes may live in one process only: the per-account
sign-in count, a logout and a refresh rotation made on one instance hold on the other at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from helpers import (
    clean_env,
    python_module,
    require_success,
    run,
    serving,
    temporary_postgres_database,
)

PASSWORD = "correct horse battery staple"
ME = "/api/v1/users/me"


@pytest.fixture(scope="module")
def instances(
    render: Callable[[str], Path],
    postgres_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Clients of two instances of the default render that share PostgreSQL and Redis."""
    project = render("defaults")
    logs = tmp_path_factory.mktemp("instances")
    # A prefix of this run's own: other runs on the same Redis keep their counts apart.
    prefix = f"instances-{secrets.token_hex(6)}"
    with temporary_postgres_database(postgres_url) as database_url, ExitStack() as stack:
        env = clean_env(
            ENVIRONMENT="production",
            # These tests send no mail; tests/test_mail.py in the render covers it.
            MAIL_ENABLED="false",
            DATABASE_URL=database_url,
            SECRET_KEY=secrets.token_hex(32),
            REDIS_URL=redis_url,
            RATE_LIMIT_KEY_PREFIX=prefix,
            LOGIN_ACCOUNT_RATE_LIMIT="3/minute",
        )
        require_success(run(python_module("alembic", "upgrade", "head"), cwd=project, env=env))
        first, second = (
            stack.enter_context(
                httpx.Client(base_url=stack.enter_context(serving(project, env, log)), timeout=10)
            )
            for log in (logs / "first.log", logs / "second.log")
        )
        try:
            yield first, second
        finally:
            with redis.Redis.from_url(redis_url) as client:
                for key in client.scan_iter(f"{prefix}*"):
                    client.delete(key)


def new_account(client: httpx.Client) -> str:
    """The email of a new account: each test counts its own sign-ins."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    r = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", data={"username": email, "password": password})


def sign_in(client: httpx.Client, email: str) -> dict[str, str]:
    r = login(client, email)
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def refresh(client: httpx.Client, tokens: dict[str, str]) -> httpx.Response:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def test_instances_share_one_sign_in_count_per_account(
    instances: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = instances
    email = new_account(first)
    for client in (first, first, second):
        assert login(client, email, "wrong password").status_code == 401

    # The fourth try in a minute, right password or not, on either instance.
    assert login(second, email).status_code == 429
    assert login(first, email).status_code == 429
    # The count is the account's, not the client's: another account still gets a password check.
    assert login(second, new_account(second), "wrong password").status_code == 401


def test_a_logout_on_one_instance_holds_on_the_other(
    instances: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = instances
    tokens = sign_in(first, new_account(first))
    assert second.get(ME, headers=bearer(tokens)).status_code == 200

    logout = first.post(
        "/api/v1/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens),
    )

    assert logout.status_code == 204, logout.text
    assert second.get(ME, headers=bearer(tokens)).status_code == 401
    assert refresh(second, tokens).status_code == 401


def test_a_refresh_rotation_on_one_instance_holds_on_the_other(
    instances: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = instances
    spent = sign_in(second, new_account(second))

    rotated = refresh(first, spent)

    assert rotated.status_code == 200, rotated.text
    assert second.get(ME, headers=bearer(rotated.json())).status_code == 200
    newer = refresh(second, rotated.json())
    assert newer.status_code == 200, newer.text
    # The spent token comes back on the other instance: reuse, and the whole session ends.
    assert refresh(second, spent).status_code == 401
    assert refresh(first, newer.json()).status_code == 401
    assert first.get(ME, headers=bearer(newer.json())).status_code == 401
