"""The caller's own account: profile, profile changes and password changes."""

import httpx
import pytest

from tests.helpers import (
    PASSWORD,
    SIGN_IN_FAILED,
    Account,
    SignInAgain,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    extra_forbidden,
    login,
)

ME = "/api/v1/users/me"
PASSWORD_URL = "/api/v1/users/me/password"
NEW_PASSWORD = "a brand new passphrase"


async def test_read_me(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.get(ME, headers=user.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "id": str(user.id),
        "email": user.email,
        "full_name": None,
        "role": "user",
        "is_active": True,
        "email_verified": False,
        "created_at": body["created_at"],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ME), ("PATCH", ME), ("POST", PASSWORD_URL)],
)
async def test_account_routes_need_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={})

    assert_unauthorized(r)


async def test_update_me(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.patch(ME, json={"full_name": "Ada King"}, headers=user.headers)

    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Ada King"
    me = await client.get(ME, headers=user.headers)
    assert me.json() == r.json()


async def test_update_me_changes_only_what_is_sent(
    client: httpx.AsyncClient, user: Account
) -> None:
    r = await client.patch(ME, json={"full_name": "Ada"}, headers=user.headers)

    assert r.status_code == 200, r.text
    assert r.json()["email"] == user.email
    assert r.json()["full_name"] == "Ada"
    cleared = await client.patch(ME, json={"full_name": None}, headers=user.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["full_name"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # The email changes only through POST /users/me/email, confirmed from the new address.
        ("email", "mallory@example.com"),
        ("role", "admin"),
        ("is_active", False),
        ("email_verified", True),
        ("password_hash", "x"),
        ("id", "x"),
    ],
)
async def test_update_me_refuses_other_fields(
    client: httpx.AsyncClient, user: Account, field: str, value: object
) -> None:
    r = await client.patch(ME, json={field: value}, headers=user.headers)

    assert_invalid(r, extra_forbidden("body", field))
    me = await client.get(ME, headers=user.headers)
    assert me.json() == {**me.json(), "email": user.email, "role": "user", "is_active": True}
    assert me.json()["email_verified"] is False


async def test_change_password(
    client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    other_device = await sign_in_again(user)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}

    r = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert r.status_code == 204, r.text
    # This session goes on; every other session ends.
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    renewed = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert renewed.status_code == 200, renewed.text
    assert_unauthorized(await client.get(ME, headers=other_device.headers))
    refresh = {"refresh_token": other_device.refresh_token}
    assert_unauthorized(await client.post("/api/v1/auth/refresh", json=refresh))
    # The new password signs in; the old one no longer does.
    assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200
    assert_unauthorized(await login(client, user.email, PASSWORD), SIGN_IN_FAILED)


async def test_change_password_needs_the_current_one(
    client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    other_device = await sign_in_again(user)
    change = {"current_password": "not my password", "new_password": NEW_PASSWORD}

    r = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert_problem(r, 400, "The current password is incorrect.")
    assert (await client.get(ME, headers=other_device.headers)).status_code == 200
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_change_password_validates_the_new_one(
    client: httpx.AsyncClient, user: Account
) -> None:
    change = {"current_password": PASSWORD, "new_password": "short"}

    r = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert_invalid(
        r,
        {
            "loc": ["body", "new_password"],
            "type": "string_too_short",
            "msg": "String should have at least 12 characters",
        },
    )
    assert PASSWORD not in r.text
