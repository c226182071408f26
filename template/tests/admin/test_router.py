"""User administration: admins only, and changes that act on the next request."""

from uuid import uuid4

import httpx
import pytest

from app.auth.models import Role
from tests.helpers import (
    SIGN_IN_FAILED,
    Account,
    MakeAccount,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    error_locations,
    extra_forbidden,
    login,
)

USERS = "/api/v1/admin/users"
FORBIDDEN = "This action needs the admin role."


def user_url(account: Account) -> str:
    return f"{USERS}/{account.id}"


async def test_admin_lists_users(
    client: httpx.AsyncClient, admin: Account, user: Account, other_user: Account
) -> None:
    r = await client.get(USERS, headers=admin.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    assert (body["limit"], body["offset"]) == (20, 0)
    emails = {item["email"] for item in body["items"]}
    assert emails == {admin.email, user.email, other_user.email}
    for item in body["items"]:
        assert sorted(item) == ["created_at", "email", "full_name", "id", "is_active", "role"]


async def test_admin_pages_through_users(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    for _ in range(4):
        await make_account()

    first = await client.get(USERS, params={"limit": 2}, headers=admin.headers)
    last = await client.get(USERS, params={"limit": 2, "offset": 4}, headers=admin.headers)
    past = await client.get(USERS, params={"limit": 2, "offset": 9}, headers=admin.headers)

    assert first.status_code == 200, first.text
    assert (len(first.json()["items"]), first.json()["total"]) == (2, 5)
    assert (len(last.json()["items"]), last.json()["total"]) == (1, 5)
    assert past.json() == {"items": [], "total": 5, "limit": 2, "offset": 9, "next_cursor": None}
    seen = {item["id"] for page in (first, last) for item in page.json()["items"]}
    assert len(seen) == 3


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"role": "admin"}],
    ids=["limit-0", "limit-101", "offset-negative", "unknown-parameter"],
)
async def test_admin_list_validates_the_query(
    client: httpx.AsyncClient, admin: Account, params: dict[str, int | str]
) -> None:
    r = await client.get(USERS, params=params, headers=admin.headers)

    assert error_locations(r) == [["query", next(iter(params))]]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("PATCH", f"{USERS}/{uuid4()}")],
)
async def test_admin_routes_refuse_users(
    client: httpx.AsyncClient, user: Account, method: str, path: str
) -> None:
    r = await client.request(method, path, json={"role": "admin"}, headers=user.headers)

    assert_problem(r, 403, FORBIDDEN)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("PATCH", f"{USERS}/{uuid4()}")],
)
async def test_admin_routes_need_a_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert_unauthorized(await client.request(method, path, json={"role": "admin"}))


async def test_admin_promotes_a_user(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await client.patch(user_url(user), json={"role": "admin"}, headers=admin.headers)

    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
    assert r.json()["id"] == str(user.id)
    # The promoted user's current token carries the new role at once.
    listed = await client.get(USERS, headers=user.headers)
    assert listed.status_code == 200, listed.text


async def test_demoting_an_admin_acts_on_their_next_request(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    other_admin = await make_account(role=Role.ADMIN)
    assert (await client.get(USERS, headers=other_admin.headers)).status_code == 200

    r = await client.patch(user_url(other_admin), json={"role": "user"}, headers=admin.headers)

    assert r.status_code == 200, r.text
    assert r.json()["role"] == "user"
    assert_problem(await client.get(USERS, headers=other_admin.headers), 403, FORBIDDEN)


async def test_disabling_a_user_ends_their_sessions(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await client.patch(user_url(user), json={"is_active": False}, headers=admin.headers)

    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert_unauthorized(await client.get("/api/v1/users/me", headers=user.headers))
    refresh = {"refresh_token": user.refresh_token}
    assert_unauthorized(await client.post("/api/v1/auth/refresh", json=refresh))
    assert_unauthorized(await login(client, user.email), SIGN_IN_FAILED)


async def test_enabling_a_user_again_lets_them_sign_in(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    await client.patch(user_url(user), json={"is_active": False}, headers=admin.headers)

    r = await client.patch(user_url(user), json={"is_active": True}, headers=admin.headers)

    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is True
    assert (await login(client, user.email)).status_code == 200
    # The sessions that disabling ended stay ended.
    assert_unauthorized(await client.get("/api/v1/users/me", headers=user.headers))


@pytest.mark.parametrize("change", [{"role": "user"}, {"is_active": False}])
async def test_admin_cannot_change_themselves(
    client: httpx.AsyncClient, admin: Account, change: dict[str, object]
) -> None:
    r = await client.patch(user_url(admin), json=change, headers=admin.headers)

    assert_problem(r, 409, "Admins cannot change their own role or status; ask another admin.")
    assert (await client.get(USERS, headers=admin.headers)).status_code == 200


async def test_admin_update_of_an_unknown_user(client: httpx.AsyncClient, admin: Account) -> None:
    r = await client.patch(f"{USERS}/{uuid4()}", json={"role": "admin"}, headers=admin.headers)

    assert_problem(r, 404, "No such user.")


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"email": "x@example.com"}, ["body", "email"]),
        ({"password_hash": "x"}, ["body", "password_hash"]),
        ({"role": "superuser"}, ["body", "role"]),
        ({"role": None}, ["body", "role"]),
        ({"is_active": "maybe"}, ["body", "is_active"]),
    ],
    ids=["email", "password-hash", "unknown-role", "null-role", "bad-flag"],
)
async def test_admin_update_validates(
    client: httpx.AsyncClient,
    admin: Account,
    user: Account,
    change: dict[str, object],
    loc: list[str],
) -> None:
    r = await client.patch(user_url(user), json=change, headers=admin.headers)

    assert error_locations(r) == [loc]


async def test_admin_update_refuses_extra_fields(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await client.patch(user_url(user), json={"id": str(uuid4())}, headers=admin.headers)

    assert_invalid(r, extra_forbidden("body", "id"))


async def test_admin_update_validates_the_id(client: httpx.AsyncClient, admin: Account) -> None:
    r = await client.patch(f"{USERS}/not-a-uuid", json={"role": "admin"}, headers=admin.headers)

    assert error_locations(r) == [["path", "user_id"]]
