"""Sign-up, sign-in, refresh-token rotation and reuse, and logout, through the API."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from app.auth import service
from app.auth.models import AuthSession, User
from app.core.config import Settings
from tests.helpers import (
    PASSWORD,
    SIGN_IN_FAILED,
    Account,
    MakeAccount,
    SignInAgain,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    bearer,
    change_user,
    client_for,
    error_locations,
    extra_forbidden,
    login,
    make_settings,
    missing,
    running_app,
)
from tests.tokens import FORGERY_KEY, claims_of, sign

REGISTER = "/api/v1/auth/register"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


async def assert_signed_in(client: httpx.AsyncClient, access_token: str) -> None:
    r = await client.get(ME, headers=bearer(access_token))
    assert r.status_code == 200, r.text


def assert_token_pair(response: httpx.Response, settings: Settings) -> dict[str, str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    assert body["access_token"] != body["refresh_token"]
    return dict(body)


# Sign-up.


async def test_register_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    payload = {"email": "Ada@Example.COM", "password": PASSWORD, "full_name": "Ada Lovelace"}

    r = await client.post(REGISTER, json=payload)

    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {
        "id": body["id"],
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "role": "user",
        "is_active": True,
        "email_verified": False,
        "created_at": body["created_at"],
    }
    UUID(body["id"])
    datetime.fromisoformat(body["created_at"])
    assert PASSWORD not in r.text


async def test_register_then_login(client: httpx.AsyncClient, settings: Settings) -> None:
    r = await client.post(REGISTER, json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert r.json()["full_name"] is None

    tokens = assert_token_pair(await login(client, "ADA@example.com"), settings)

    me = await client.get(ME, headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == r.json()


async def test_register_stores_only_a_hash(client: httpx.AsyncClient, app: FastAPI) -> None:
    r = await client.post(REGISTER, json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 201, r.text

    async with app.state.sessionmaker() as session:
        user = await session.get(User, UUID(r.json()["id"]))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_register_refuses_a_taken_email(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.post(REGISTER, json={"email": user.email.upper(), "password": PASSWORD})

    assert_problem(r, 409, "An account with this email already exists.")


async def test_register_race_on_one_email_is_a_conflict(
    client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sign-ups that both pass the existence check: the unique index answers the second."""

    async def nobody(**_: object) -> None:
        return None

    monkeypatch.setattr(service, "find_user_by_email", nobody)
    r = await client.post(REGISTER, json={"email": user.email, "password": PASSWORD})

    assert_problem(r, 409, "An account with this email already exists.")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            {"email": "ada@example.com", "password": "too short"},
            {
                "loc": ["body", "password"],
                "type": "string_too_short",
                "msg": "String should have at least 12 characters",
            },
        ),
        (
            {"email": "ada@example.com", "password": "x" * 129},
            {
                "loc": ["body", "password"],
                "type": "string_too_long",
                "msg": "String should have at most 128 characters",
            },
        ),
        ({"email": "ada@example.com"}, missing("body", "password")),
        ({"password": PASSWORD}, missing("body", "email")),
        (
            {"email": "ada@example.com", "password": PASSWORD, "full_name": ""},
            {
                "loc": ["body", "full_name"],
                "type": "string_too_short",
                "msg": "String should have at least 1 character",
            },
        ),
    ],
    ids=["short-password", "long-password", "no-password", "no-email", "empty-name"],
)
async def test_register_validates(
    client: httpx.AsyncClient, payload: dict[str, str], error: dict[str, object]
) -> None:
    r = await client.post(REGISTER, json=payload)

    assert_invalid(r, error)


async def test_register_refuses_a_bad_email(client: httpx.AsyncClient) -> None:
    r = await client.post(REGISTER, json={"email": "not-an-email", "password": PASSWORD})

    assert error_locations(r) == [["body", "email"]]
    assert "not-an-email" not in r.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "admin"), ("is_active", True), ("id", "8c7b0a7e-6f0e-4f5b-9c1a-2d3e4f5a6b7c")],
)
async def test_register_refuses_mass_assignment(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    payload = {"email": "ada@example.com", "password": PASSWORD, field: value}

    r = await client.post(REGISTER, json=payload)

    assert_invalid(r, extra_forbidden("body", field))


# Sign-in.


async def test_login_returns_a_token_pair(
    client: httpx.AsyncClient, user: Account, settings: Settings
) -> None:
    tokens = assert_token_pair(await login(client, user.email), settings)

    await assert_signed_in(client, tokens["access_token"])


async def test_login_failures_read_the_same(
    client: httpx.AsyncClient, user: Account, make_account: MakeAccount, app: FastAPI
) -> None:
    disabled = await make_account(email="disabled@example.com")
    await change_user(app, disabled.id, is_active=False)

    failures = [
        await login(client, user.email, "wrong password!"),
        await login(client, "nobody@example.com"),
        await login(client, disabled.email),
    ]

    for r in failures:
        assert_unauthorized(r, SIGN_IN_FAILED)


async def test_login_needs_the_form_fields(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", data={"username": "ada@example.com"})

    assert_invalid(r, missing("body", "password"))


# Refresh-token rotation.


async def test_refresh_rotates_the_pair(
    client: httpx.AsyncClient, user: Account, settings: Settings
) -> None:
    tokens = assert_token_pair(await refresh(client, user.refresh_token), settings)

    assert tokens["refresh_token"] != user.refresh_token
    await assert_signed_in(client, tokens["access_token"])
    # The new refresh token works in turn.
    assert_token_pair(await refresh(client, tokens["refresh_token"]), settings)


async def test_reusing_a_refresh_token_revokes_the_session(
    client: httpx.AsyncClient,
    user: Account,
    settings: Settings,
    sign_in_again: SignInAgain,
) -> None:
    other_device = await sign_in_again(user)
    rotated = assert_token_pair(await refresh(client, user.refresh_token), settings)

    # The spent token comes back, as a thief would replay it.
    assert_unauthorized(await refresh(client, user.refresh_token))

    # The whole session ends: its newest refresh token and its access tokens.
    assert_unauthorized(await refresh(client, rotated["refresh_token"]))
    assert_unauthorized(await client.get(ME, headers=bearer(rotated["access_token"])))
    assert_unauthorized(await client.get(ME, headers=user.headers))
    # The user's other sessions go on.
    await assert_signed_in(client, other_device.access_token)
    assert_token_pair(await refresh(client, other_device.refresh_token), settings)


async def test_concurrent_uses_of_one_refresh_token_let_only_one_through(
    client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    """Two tabs, or a thief and its owner, spending one token at once: one wins, then reuse."""
    other_device = await sign_in_again(user)

    answers = await asyncio.gather(*(refresh(client, user.refresh_token) for _ in range(6)))

    # The first to mark the token spent holds the row until it commits its new pair.
    (winner,) = [r for r in answers if r.status_code == 200]
    for r in answers:
        if r is not winner:
            assert_unauthorized(r)
    # The others replayed a spent token, so the session is over, the winner's new pair included.
    assert_unauthorized(await refresh(client, winner.json()["refresh_token"]))
    assert_unauthorized(await client.get(ME, headers=bearer(winner.json()["access_token"])))
    assert_unauthorized(await client.get(ME, headers=user.headers))
    await assert_signed_in(client, other_device.access_token)


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "", "a.b.c"],
    ids=["garbage", "empty", "three-parts"],
)
async def test_refresh_refuses_a_bad_token(client: httpx.AsyncClient, token: str) -> None:
    assert_unauthorized(await refresh(client, token))


async def test_refresh_refuses_an_access_token(client: httpx.AsyncClient, user: Account) -> None:
    assert_unauthorized(await refresh(client, user.access_token))


async def test_refresh_validates_the_body(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.post(REFRESH, json={"refresh_token": user.refresh_token, "user_id": "x"})

    assert_invalid(r, extra_forbidden("body", "user_id"))
    assert_invalid(await client.post(REFRESH, json={}), missing("body", "refresh_token"))


async def test_refresh_of_a_disabled_user_fails(
    client: httpx.AsyncClient, user: Account, app: FastAPI
) -> None:
    await change_user(app, user.id, is_active=False)

    assert_unauthorized(await refresh(client, user.refresh_token))


# Logout.


async def test_logout_ends_the_session(
    client: httpx.AsyncClient,
    user: Account,
    sign_in_again: SignInAgain,
) -> None:
    other_device = await sign_in_again(user)

    r = await client.post(LOGOUT, json={"refresh_token": user.refresh_token}, headers=user.headers)

    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_unauthorized(await refresh(client, user.refresh_token))
    assert_unauthorized(await client.get(ME, headers=user.headers))
    await assert_signed_in(client, other_device.access_token)


async def test_logout_needs_an_access_token(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.post(LOGOUT, json={"refresh_token": user.refresh_token})

    assert_unauthorized(r)
    await assert_signed_in(client, user.access_token)


async def test_logout_cannot_end_another_users_session(
    client: httpx.AsyncClient, user: Account, other_user: Account, settings: Settings
) -> None:
    r = await client.post(
        LOGOUT, json={"refresh_token": user.refresh_token}, headers=other_user.headers
    )

    assert r.status_code == 204, r.text
    await assert_signed_in(client, user.access_token)
    assert_token_pair(await refresh(client, user.refresh_token), settings)


async def test_logout_refuses_a_bad_refresh_token(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.post(LOGOUT, json={"refresh_token": "not-a-token"}, headers=user.headers)

    assert_unauthorized(r)


# Rate limits.


STRICT_LIMITS = {
    "login_rate_limit": "2/minute",
    "login_account_rate_limit": "2/minute",
    "register_rate_limit": "2/minute",
    "register_account_rate_limit": "2/minute",
    "refresh_rate_limit": "2/minute",
    "refresh_account_rate_limit": "2/minute",
}
# Per-account limits alone: the per-client ones out of reach.
ACCOUNT_LIMITS = STRICT_LIMITS | {
    "login_rate_limit": "100/minute",
    "register_rate_limit": "100/minute",
    "refresh_rate_limit": "100/minute",
}


@pytest.fixture
async def strict_client(
    database_url: str, limiter_settings: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with limits low enough to reach: two tries a minute for each."""
    settings = make_settings(database_url, **STRICT_LIMITS, **limiter_settings)
    async with running_app(settings) as application, client_for(application) as client:
        yield client


def assert_rate_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "Too many requests; retry later.")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_login_is_rate_limited_per_client(strict_client: httpx.AsyncClient) -> None:
    for email in ("a@example.com", "b@example.com"):
        assert_unauthorized(await login(strict_client, email), SIGN_IN_FAILED)

    assert_rate_limited(await login(strict_client, "c@example.com"))


async def test_login_is_rate_limited_per_account(
    database_url: str, limiter_settings: dict[str, str]
) -> None:
    settings = make_settings(
        database_url,
        login_rate_limit="100/minute",
        login_account_rate_limit="2/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            assert_unauthorized(await login(client, "ada@example.com", "guess"), SIGN_IN_FAILED)
        limited = await login(client, "ADA@example.com", "guess")
        other_account = await login(client, "grace@example.com", "guess")

    assert_rate_limited(limited)
    assert_unauthorized(other_account, SIGN_IN_FAILED)


async def test_register_is_rate_limited(strict_client: httpx.AsyncClient) -> None:
    payload = {"email": "ada@example.com", "password": PASSWORD}
    assert (await strict_client.post(REGISTER, json=payload)).status_code == 201
    assert (await strict_client.post(REGISTER, json=payload)).status_code == 409

    assert_rate_limited(await strict_client.post(REGISTER, json=payload))


# Long enough for the schema, refused by the password policy: the attempt reaches the limiter.
WEAK = "password1234"


async def test_register_is_rate_limited_per_email(
    database_url: str, limiter_settings: dict[str, str]
) -> None:
    settings = make_settings(database_url, **ACCOUNT_LIMITS, **limiter_settings)
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            weak = await client.post(REGISTER, json={"email": "ada@example.com", "password": WEAK})
            assert weak.status_code == 422, weak.text
        limited = await client.post(
            REGISTER, json={"email": "ADA@example.com", "password": PASSWORD}
        )
        other = await client.post(REGISTER, json={"email": "bo@example.com", "password": PASSWORD})

    assert_rate_limited(limited)
    assert other.status_code == 201, other.text


async def test_refresh_is_rate_limited(strict_client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert_unauthorized(await refresh(strict_client, "not-a-token"))

    assert_rate_limited(await refresh(strict_client, "not-a-token"))


async def test_refresh_is_rate_limited_per_account_by_valid_tokens_only(
    database_url: str, limiter_settings: dict[str, str], user: Account, other_user: Account
) -> None:
    """Forged tokens in someone's name do not use up their count; their own refreshes do."""
    forged = sign(claims_of(user.refresh_token), key=FORGERY_KEY)
    settings = make_settings(database_url, **ACCOUNT_LIMITS, **limiter_settings)
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(3):
            assert_unauthorized(await refresh(client, forged))
        token = user.refresh_token
        for _ in range(2):
            r = await refresh(client, token)
            assert r.status_code == 200, r.text
            token = r.json()["refresh_token"]
        limited = await refresh(client, token)
        other = await refresh(client, other_user.refresh_token)

    assert_rate_limited(limited)
    assert other.status_code == 200, other.text


async def test_instances_on_one_redis_share_their_counts(
    database_url: str, redis_settings: dict[str, str]
) -> None:
    """Two app instances behind a load balancer: the second sees the first one's hits."""
    settings = make_settings(database_url, **STRICT_LIMITS, **redis_settings)
    async with (
        running_app(settings) as first,
        running_app(settings) as second,
        client_for(first) as first_client,
        client_for(second) as second_client,
    ):
        for client in (first_client, second_client):
            assert_unauthorized(await refresh(client, "not-a-token"))
        limited = await refresh(first_client, "not-a-token")

    assert_rate_limited(limited)


async def test_an_expired_session_ends_both_tokens(
    client: httpx.AsyncClient, user: Account, app: FastAPI
) -> None:
    """The server's own expiry counts, whatever the tokens say."""
    async with app.state.sessionmaker() as session:
        statement = select(AuthSession).where(AuthSession.user_id == user.id)
        auth_session = (await session.exec(statement)).one()
        auth_session.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()

    assert_unauthorized(await client.get(ME, headers=user.headers))
    assert_unauthorized(await refresh(client, user.refresh_token))


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, user: Account
) -> None:
    claims = claims_of(user.refresh_token)
    expired = sign(claims_of(user.refresh_token, exp=claims["iat"] - 1))

    assert_unauthorized(await refresh(client, expired))
