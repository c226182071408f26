"""Reading the audit log: admins only, newest first, paged, filtered by actor, target, event
and time; no other parameter."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from app.audit.models import AuditEvent, AuditEventType
from tests.audit.helpers import CLIENT
from tests.helpers import (
    Account,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    error_locations,
    extra_forbidden,
)

AUDIT = "/api/v1/admin/audit"
FORBIDDEN = "This action needs the admin role."
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL = uuid4(), uuid4(), uuid4()
# (minutes after START, actor, event, target): the log the filter tests read.
LOG = [
    (0, ALICE, AuditEventType.ROLE_CHANGED, BOB),
    (1, ALICE, AuditEventType.ACTIVATION_CHANGED, CAROL),
    (2, None, AuditEventType.LOCKED_OUT, BOB),
    (3, BOB, AuditEventType.PASSWORD_CHANGED, BOB),
    (4, CAROL, AuditEventType.SESSIONS_ENDED, CAROL),
]


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
async def log(app: FastAPI) -> dict[int, UUID]:
    """The rows of LOG, written straight to the table; their ids by minute."""
    rows = {
        minutes: AuditEvent(
            occurred_at=START + timedelta(minutes=minutes),
            actor_id=actor,
            event=event,
            target_id=target,
            client_address=CLIENT,
        )
        for minutes, actor, event, target in LOG
    }
    async with app.state.sessionmaker() as session:
        session.add_all(rows.values())
        await session.commit()
    return {minutes: row.id for minutes, row in rows.items()}


async def get_page(client: httpx.AsyncClient, admin: Account, **params: Any) -> dict[str, Any]:
    r = await client.get(AUDIT, params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def listed(
    client: httpx.AsyncClient, admin: Account, log: dict[int, UUID], **params: Any
) -> list[int]:
    """The minutes of the rows that match `params`, in the list's order."""
    page = await get_page(client, admin, limit=100, **params)
    assert page["total"] == len(page["items"])
    minutes = {str(row_id): minute for minute, row_id in log.items()}
    return [minutes[item["id"]] for item in page["items"]]


async def test_admin_reads_a_change_as_it_was_recorded(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text

    page = await get_page(client, admin)

    (item,) = page["items"]
    assert (page["total"], page["limit"], page["offset"], page["next_cursor"]) == (1, 20, 0, None)
    assert datetime.fromisoformat(item.pop("occurred_at")) <= datetime.now(UTC)
    assert item == {
        "id": item["id"],
        "actor_id": str(admin.id),
        "event": "role_changed",
        "target_id": str(user.id),
        "client_address": CLIENT,
        "detail": {"from": "user", "to": "admin"},
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [4, 3, 2, 1, 0]),
        ({"sort": "occurred_at"}, [0, 1, 2, 3, 4]),
        ({"actor_id": str(ALICE)}, [1, 0]),
        ({"actor_id": [str(BOB), str(CAROL)]}, [4, 3]),
        ({"target_id": str(BOB)}, [3, 2, 0]),
        ({"target_id": str(uuid4())}, []),
        ({"event": "locked_out"}, [2]),
        ({"event": ["role_changed", "sessions_ended"]}, [4, 0]),
        ({"occurred_at__gt": at(1), "occurred_at__lte": at(3)}, [3, 2]),
        ({"occurred_at__gte": at(1), "occurred_at__lt": at(3)}, [2, 1]),
        ({"actor_id": str(ALICE), "target_id": str(CAROL), "event": "activation_changed"}, [1]),
    ],
    ids=[
        "newest-first",
        "oldest-first",
        "actor",
        "any-actor",
        "target",
        "unknown-target",
        "event",
        "any-event",
        "after-until",
        "from-before",
        "all-at-once",
    ],
)
async def test_admin_filters_the_log(
    client: httpx.AsyncClient,
    admin: Account,
    log: dict[int, UUID],
    params: dict[str, Any],
    expected: list[int],
) -> None:
    assert await listed(client, admin, log, **params) == expected


async def walk(client: httpx.AsyncClient, admin: Account, **params: Any) -> list[str]:
    """The ids on every page, following `next_cursor` from the first page to the last."""
    page = await get_page(client, admin, **params)
    found = [item["id"] for item in page["items"]]
    while page["next_cursor"] is not None:
        page = await get_page(client, admin, **params, cursor=page["next_cursor"])
        found += [item["id"] for item in page["items"]]
    return found


@pytest.mark.parametrize("sort", ["-occurred_at", "occurred_at"])
async def test_pages_agree_by_offset_and_cursor(
    client: httpx.AsyncClient, admin: Account, log: dict[int, UUID], sort: str
) -> None:
    params = {"sort": sort, "target_id": [str(BOB), str(CAROL)]}
    by_offset = [
        item["id"]
        for offset in range(0, 6, 2)
        for item in (await get_page(client, admin, **params, limit=2, offset=offset))["items"]
    ]

    by_cursor = await walk(client, admin, **params, limit=2)

    minutes = [0, 1, 2, 3, 4] if sort == "occurred_at" else [4, 3, 2, 1, 0]
    assert by_cursor == by_offset == [str(log[minute]) for minute in minutes]


@pytest.mark.parametrize(
    "name",
    ["client_address", "detail", "id", "q", "created_at__gt", "updated_at__lt", "event__isnull"],
)
async def test_other_parameters_are_refused(
    client: httpx.AsyncClient, admin: Account, name: str
) -> None:
    r = await client.get(AUDIT, params={name: "1"}, headers=admin.headers)

    assert_invalid(r, extra_forbidden("query", name))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("event", "logged_in"),
        ("event", ["locked_out"] * 101),
        ("actor_id", "not-a-uuid"),
        ("target_id", "' OR 1=1 --"),
        ("occurred_at__gte", "2030-01-01T12:00:00"),  # no time zone
        ("occurred_at__lt", "1893456000"),  # seconds, not a time
        ("sort", "-client_address"),
        ("limit", "101"),
    ],
)
async def test_a_bad_value_is_refused(
    client: httpx.AsyncClient, admin: Account, name: str, value: str | list[str]
) -> None:
    r = await client.get(AUDIT, params={name: value}, headers=admin.headers)

    assert [loc[:2] for loc in error_locations(r)] == [["query", name]]


@pytest.mark.parametrize("params", [{}, {"event": "locked_out"}, {"event": "nonsense"}])
async def test_a_user_cannot_read_the_log(
    client: httpx.AsyncClient, user: Account, params: dict[str, str]
) -> None:
    # The role check comes first: a user learns nothing about the parameters either.
    r = await client.get(AUDIT, params=params, headers=user.headers)

    assert_problem(r, 403, FORBIDDEN)


async def test_reading_the_log_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(AUDIT))


def test_the_log_documents_its_parameters(app: FastAPI) -> None:
    schema = app.openapi()
    operation = schema["paths"][AUDIT]["get"]
    # An optional parameter is `anyOf` its type and null.
    types = {p["name"]: p["schema"].get("anyOf", [p["schema"]])[0] for p in operation["parameters"]}
    uuids = {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 100}
    instant = {"type": "string", "format": "date-time"}

    assert operation["operationId"] == "list_audit_events"
    assert operation["tags"] == ["admin"]
    assert all(p["in"] == "query" and not p["required"] for p in operation["parameters"])
    assert types == {
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "title": "Limit"},
        "offset": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1_000_000,
            "default": 0,
            "title": "Offset",
        },
        "cursor": {"type": "string", "maxLength": 256, "pattern": "^[A-Za-z0-9_-]+$"},
        "sort": {
            "type": "string",
            "enum": ["occurred_at", "-occurred_at"],
            "x-enum-varnames": ["OCCURRED_AT", "OCCURRED_AT_DESC"],
            "default": "-occurred_at",
            "title": "Sort",
        },
        "actor_id": uuids,
        "target_id": uuids,
        "event": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/AuditEventType"},
            "maxItems": 100,
        },
        **{f"occurred_at__{test}": instant for test in ("gt", "gte", "lt", "lte")},
    }
    assert schema["components"]["schemas"]["AuditEventType"]["enum"] == [
        "role_changed",
        "activation_changed",
        "email_changed",
        "password_changed",
        "password_reset",
        "sessions_ended",
        "locked_out",
    ]
