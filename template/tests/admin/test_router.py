"""User administration: admins only, a list that filters and searches, and changes that act on
the next request."""

from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from app.auth.models import Role
from tests.helpers import (
    SIGN_IN_FAILED,
    Account,
    MakeAccount,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    change_user,
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
        assert sorted(item) == [
            "created_at",
            "email",
            "email_verified",
            "full_name",
            "id",
            "is_active",
            "role",
        ]


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
    [{"limit": 0}, {"limit": 101}, {"offset": -1}],
    ids=["limit-0", "limit-101", "offset-negative"],
)
async def test_admin_list_validates_the_query(
    client: httpx.AsyncClient, admin: Account, params: dict[str, int | str]
) -> None:
    r = await client.get(USERS, params=params, headers=admin.headers)

    assert error_locations(r) == [["query", next(iter(params))]]


# The user list's filters and sorts are allow-listed: `email` is searched with `q`, never matched.
@pytest.mark.parametrize(
    "name",
    ["email", "password_hash", "full_name", "id", "role__isnull", "is_active__gt", "email__gt"],
)
async def test_admin_list_refuses_unknown_parameters(
    client: httpx.AsyncClient, admin: Account, name: str
) -> None:
    r = await client.get(USERS, params={name: "1"}, headers=admin.headers)

    assert_invalid(r, extra_forbidden("query", name))


async def get_page(client: httpx.AsyncClient, admin: Account, **params: Any) -> dict[str, Any]:
    r = await client.get(USERS, params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def emails(page: dict[str, Any]) -> list[str]:
    return [item["email"] for item in page["items"]]


async def listed(client: httpx.AsyncClient, admin: Account, **params: Any) -> list[str]:
    """The emails of every user that matches `params`, in the list's order (by email unless
    given)."""
    page = await get_page(client, admin, limit=100, **{"sort": "email", **params})
    assert page["total"] == len(page["items"])
    return emails(page)


@pytest.fixture
async def staff(app: FastAPI, admin: Account, user: Account, make_account: MakeAccount) -> None:
    """Besides the calling admin and ada@example.com (a user), a disabled admin and user."""
    for email, role in (("root@example.org", Role.ADMIN), ("bob@example.org", Role.USER)):
        account = await make_account(email=email, role=role)
        await change_user(app, account.id, is_active=False)


EVERYONE = ["ada@example.com", "admin@example.com", "bob@example.org", "root@example.org"]


@pytest.mark.usefixtures("staff")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"role": "admin"}, ["admin@example.com", "root@example.org"]),
        ({"role": "user"}, ["ada@example.com", "bob@example.org"]),
        ({"role": ["admin", "user"]}, EVERYONE),
        ({"role": ["user"] * 100}, ["ada@example.com", "bob@example.org"]),
        ({"is_active": "false"}, ["bob@example.org", "root@example.org"]),
        ({"is_active": "true"}, ["ada@example.com", "admin@example.com"]),
        ({"is_active": ["true", "false"]}, EVERYONE),
        ({"role": "user", "is_active": "false"}, ["bob@example.org"]),
        ({"role": "admin", "is_active": "true", "q": "example"}, ["admin@example.com"]),
    ],
    ids=[
        "admins",
        "users",
        "any-role",
        "role-100-times",
        "disabled",
        "active",
        "any-flag",
        "disabled-users",
        "active-admins-searched",
    ],
)
async def test_admin_filters_users_by_role_and_flag(
    client: httpx.AsyncClient, admin: Account, params: dict[str, Any], expected: list[str]
) -> None:
    assert await listed(client, admin, **params) == expected


@pytest.mark.usefixtures("staff")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("example.org", ["bob@example.org", "root@example.org"]),
        ("ORG", ["bob@example.org", "root@example.org"]),
        ("  org   ROOT ", ["root@example.org"]),
        ("ada org", []),
        ("@", EVERYONE),
    ],
)
async def test_admin_searches_users_by_every_word_of_q(
    client: httpx.AsyncClient, admin: Account, q: str, expected: list[str]
) -> None:
    assert await listed(client, admin, q=q) == expected


async def test_admin_search_takes_wildcards_literally(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    for email in ("first_last@example.net", "100%@example.net"):
        await make_account(email=email)

    assert await listed(client, admin, q="_") == ["first_last@example.net"]
    assert await listed(client, admin, q="t_l") == ["first_last@example.net"]
    assert await listed(client, admin, q="%") == ["100%@example.net"]
    assert await listed(client, admin, q="a%e") == []
    assert await listed(client, admin, q="\\") == []
    assert await listed(client, admin, q="'") == []


async def test_admin_filters_users_by_time(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    first, second, third = [await make_account(email=f"{n}@example.com") for n in (1, 2, 3)]
    created = {
        item["email"]: item["created_at"] for item in (await get_page(client, admin))["items"]
    }
    r = await client.patch(user_url(first), json={"role": "admin"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    # Every row's `updated_at` is from its creation, the one just changed aside.
    since_third = created[third.email]

    assert await listed(client, admin, created_at__gt=created[second.email]) == [third.email]
    assert await listed(client, admin, created_at__gte=created[second.email]) == [
        second.email,
        third.email,
    ]
    assert await listed(client, admin, created_at__lt=created[first.email]) == [admin.email]
    assert await listed(client, admin, created_at__lte=created[first.email]) == [
        first.email,
        admin.email,
    ]
    assert await listed(client, admin, updated_at__gte=since_third) == [first.email, third.email]
    assert await listed(client, admin, updated_at__lt=since_third) == [second.email, admin.email]


async def test_admin_sorts_users(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    made = [await make_account(email=f"{name}@example.com") for name in ("cy", "al", "bo")]
    r = await client.patch(user_url(made[0]), json={"role": "admin"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    by_creation = [admin.email, *(account.email for account in made)]
    by_update = [admin.email, "al@example.com", "bo@example.com", "cy@example.com"]

    assert await listed(client, admin, sort="email") == sorted(by_creation)
    assert await listed(client, admin, sort="-email") == sorted(by_creation, reverse=True)
    assert await listed(client, admin, sort="created_at") == by_creation
    assert await listed(client, admin, sort="-created_at") == by_creation[::-1]
    assert await listed(client, admin, sort="updated_at") == by_update
    assert await listed(client, admin, sort="-updated_at") == by_update[::-1]
    assert emails(await get_page(client, admin)) == by_creation[::-1]


@pytest.mark.parametrize("sort", ["id", "role", "password_hash", "+email", "email,id", ""])
async def test_admin_list_refuses_other_sorts(
    client: httpx.AsyncClient, admin: Account, sort: str
) -> None:
    r = await client.get(USERS, params={"sort": sort}, headers=admin.headers)

    assert error_locations(r) == [["query", "sort"]]


async def walk(client: httpx.AsyncClient, admin: Account, **params: Any) -> list[str]:
    """The emails on every page, following `next_cursor` from the first page to the last."""
    page = await get_page(client, admin, **params)
    found = emails(page)
    while page["next_cursor"] is not None:
        page = await get_page(client, admin, **params, cursor=page["next_cursor"])
        found += emails(page)
    return found


@pytest.mark.parametrize("sort", ["-created_at", "email", "-email", "updated_at"])
@pytest.mark.parametrize(
    "params",
    [{"role": "user"}, {"is_active": "true", "q": "example.org"}],
    ids=["role", "flag-and-q"],
)
async def test_admin_filtered_pages_agree_by_offset_and_cursor(
    client: httpx.AsyncClient,
    admin: Account,
    make_account: MakeAccount,
    params: dict[str, str],
    sort: str,
) -> None:
    for n in range(5):
        await make_account(email=f"u{n}@example.org")
        await make_account(email=f"a{n}@example.com", role=Role.ADMIN)
    expected = await listed(client, admin, **params, sort=sort)

    by_cursor = await walk(client, admin, **params, sort=sort, limit=2)
    by_offset = [
        email
        for offset in range(0, 6, 2)
        for email in emails(
            await get_page(client, admin, **params, sort=sort, limit=2, offset=offset)
        )
    ]

    assert sorted(expected) == [f"u{n}@example.org" for n in range(5)]
    assert by_cursor == by_offset == expected


# Values a client may send to any parameter: each is a 200 or a 422 naming the parameter.
HOSTILE = [
    "%",
    "_",
    "\\",
    "' OR 1=1 --",
    '"',
    "\x00",
    "x" * 10_000,
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "superuser",
    "-1e309",
]
PARAMETERS = ["role", "is_active", "q", "sort", "cursor", "created_at__gt", "updated_at__lte"]


@pytest.mark.usefixtures("staff")
@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: repr(value)[:20])
async def test_a_hostile_list_parameter_is_answered_or_refused(
    client: httpx.AsyncClient, admin: Account, value: str
) -> None:
    for name in PARAMETERS:
        r = await client.get(USERS, params={name: value}, headers=admin.headers)

        assert r.status_code in (200, 422), f"{name}={value!r}: {r.text}"
        if r.status_code == 422:
            assert error_locations(r)[0][:2] == ["query", name], name
        else:
            # No email holds any of these: a match would be a pattern or an injection.
            assert r.json()["items"] == [], f"{name}={value!r}: {r.text}"


@pytest.mark.parametrize(("name", "value"), [("role", "user"), ("is_active", "true")])
async def test_admin_list_takes_at_most_100_values(
    client: httpx.AsyncClient, admin: Account, name: str, value: str
) -> None:
    r = await client.get(USERS, params={name: [value] * 101}, headers=admin.headers)

    assert error_locations(r) == [["query", name]]


@pytest.mark.parametrize(
    ("name", "value"),
    [("role", "superuser"), ("role", "ADMIN"), ("is_active", "maybe"), ("q", ""), ("q", "a" * 321)],
)
async def test_admin_list_refuses_a_bad_value(
    client: httpx.AsyncClient, admin: Account, name: str, value: str
) -> None:
    r = await client.get(USERS, params={name: value}, headers=admin.headers)

    assert [loc[:2] for loc in error_locations(r)] == [["query", name]]


def test_the_user_list_documents_its_parameters(app: FastAPI) -> None:
    schema = app.openapi()
    parameters = schema["paths"][USERS]["get"]["parameters"]
    # An optional parameter is `anyOf` its type and null.
    types = {p["name"]: p["schema"].get("anyOf", [p["schema"]])[0] for p in parameters}
    instant = {"type": "string", "format": "date-time"}
    ranges = {
        f"{stamp}__{test}": instant
        for stamp in ("created_at", "updated_at")
        for test in ("gt", "gte", "lt", "lte")
    }
    sorts = ["created_at", "-created_at", "updated_at", "-updated_at", "email", "-email"]

    assert all(p["in"] == "query" and not p["required"] for p in parameters)
    assert types == {
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "title": "Limit"},
        "offset": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1_000_000,
            "default": 0,
            "title": "Offset",
        },
        "cursor": {"type": "string", "maxLength": 256 + 8 * 320, "pattern": "^[A-Za-z0-9_-]+$"},
        **ranges,
        "sort": {
            "type": "string",
            "enum": sorts,
            "x-enum-varnames": [s.lstrip("-").upper() + "_DESC" * s.startswith("-") for s in sorts],
            "default": "-created_at",
            "title": "Sort",
        },
        "q": {"type": "string", "minLength": 1, "maxLength": 320},
        "role": {"type": "array", "items": {"$ref": "#/components/schemas/Role"}, "maxItems": 100},
        "is_active": {"type": "array", "items": {"type": "boolean"}, "maxItems": 100},
    }
    assert schema["components"]["schemas"]["Role"]["enum"] == ["user", "admin"]


@pytest.mark.parametrize(
    "params",
    [{"role": "admin"}, {"q": "admin", "is_active": "true"}, {"role": "superuser"}, {"x": "1"}],
    ids=["role", "search", "bad-role", "unknown"],
)
async def test_a_user_cannot_list_users_by_any_filter(
    client: httpx.AsyncClient, user: Account, params: dict[str, str]
) -> None:
    # The role check comes first: a user learns nothing about the parameters either.
    r = await client.get(USERS, params=params, headers=user.headers)

    assert_problem(r, 403, FORBIDDEN)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("PATCH", f"{USERS}/{uuid4()}")],
    ids=["list", "update"],  # stable across xdist workers, unlike the random id
)
async def test_admin_routes_refuse_users(
    client: httpx.AsyncClient, user: Account, method: str, path: str
) -> None:
    r = await client.request(method, path, json={"role": "admin"}, headers=user.headers)

    assert_problem(r, 403, FORBIDDEN)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", USERS), ("PATCH", f"{USERS}/{uuid4()}")],
    ids=["list", "update"],  # stable across xdist workers, unlike the random id
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
