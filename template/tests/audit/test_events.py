"""Each audited change writes exactly one row, in its own transaction: a change that fails
leaves none, and no row holds a password, token, hash or email."""

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AuditEventType
from app.auth import service
from app.auth.models import Role, User
from tests.audit.helpers import APP_URL, CLIENT, audit_rows, audit_settings
from tests.helpers import (
    PASSWORD,
    Account,
    MakeAccount,
    SignInAgain,
    assert_problem,
    assert_unauthorized,
    change_user,
    client_for,
    login,
    running_app,
)
from tests.mailbox import Mailbox

NEW_PASSWORD = "a brand new passphrase"
USERS = "/api/v1/admin/users"
PASSWORD_URL = "/api/v1/users/me/password"
SESSIONS = "/api/v1/users/me/sessions"


def token_in(mailbox: Mailbox, to: str, path: str) -> str:
    """The token of the last mail to `to` with a link to `path` of the client app."""
    (query,) = [
        urlsplit(word).query
        for mail in mailbox.received[-1:]
        if mail.recipients == [to]
        for word in mail.part("text/plain").split()
        if word.startswith(f"{APP_URL}/{path}?")
    ]
    (token,) = parse_qs(query)["token"]
    return token


async def patch_user(
    client: httpx.AsyncClient, admin: Account, user: Account, **changes: object
) -> httpx.Response:
    return await client.patch(f"{USERS}/{user.id}", json=changes, headers=admin.headers)


async def change_password(client: httpx.AsyncClient, user: Account) -> httpx.Response:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return await client.post(PASSWORD_URL, json=body, headers=user.headers)


async def end_sessions(client: httpx.AsyncClient, user: Account, *ended: Account) -> httpx.Response:
    """`user` ends the sessions that `ended` signed in with."""
    listed = await client.get(SESSIONS, headers=user.headers)
    ids = [s["id"] for s in listed.json() if not s["current"]][: len(ended)]
    body = {"current_password": PASSWORD, "session_ids": ids}
    return await client.post(f"{SESSIONS}/end", json=body, headers=user.headers)


async def change_email(
    client: httpx.AsyncClient, mailbox: Mailbox, user: Account, new_email: str
) -> str:
    """Ask to move `user` to `new_email`; the token of the link mailed there."""
    body = {"new_email": new_email, "current_password": PASSWORD}
    r = await client.post("/api/v1/users/me/email", json=body, headers=user.headers)
    assert r.status_code == 202, r.text
    return token_in(mailbox, new_email, "confirm-email")


# --- What each change writes ----------------------------------------------------------------


async def test_a_role_change_is_audited(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await patch_user(client, admin, user, role="admin")

    assert r.status_code == 200, r.text
    assert await audit_rows(app) == [
        (AuditEventType.ROLE_CHANGED, admin.id, user.id, CLIENT, {"from": "user", "to": "admin"})
    ]


async def test_disabling_and_enabling_are_audited_with_the_sessions_ended(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Account,
    user: Account,
    sign_in_again: SignInAgain,
) -> None:
    await sign_in_again(user)

    disabled = await patch_user(client, admin, user, is_active=False)
    enabled = await patch_user(client, admin, user, is_active=True)

    assert (disabled.status_code, enabled.status_code) == (200, 200), enabled.text
    changed = AuditEventType.ACTIVATION_CHANGED
    assert await audit_rows(app) == [
        (changed, admin.id, user.id, CLIENT, {"is_active": False, "sessions_ended": 2}),
        (changed, admin.id, user.id, CLIENT, {"is_active": True, "sessions_ended": 0}),
    ]


async def test_one_change_of_both_writes_a_row_for_each(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await patch_user(client, admin, user, role="admin", is_active=False)

    assert r.status_code == 200, r.text
    assert sorted(row[0] for row in await audit_rows(app)) == [
        AuditEventType.ACTIVATION_CHANGED,
        AuditEventType.ROLE_CHANGED,
    ]


async def test_a_value_set_to_what_it_was_writes_no_row(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    r = await patch_user(client, admin, user, role="user", is_active=True)

    assert r.status_code == 200, r.text
    assert await audit_rows(app) == []


async def test_promoting_from_the_command_line_is_audited_without_an_actor(
    app: FastAPI, user: Account
) -> None:
    for _ in range(2):  # the second promotion changes nothing
        async with app.state.sessionmaker() as session:
            await service.promote(session=session, email=user.email)

    assert await audit_rows(app) == [
        (AuditEventType.ROLE_CHANGED, None, user.id, None, {"from": "user", "to": "admin"})
    ]


async def test_a_password_change_is_audited_with_the_sessions_it_ended(
    app: FastAPI, client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    await sign_in_again(user)

    r = await change_password(client, user)

    assert r.status_code == 204, r.text
    assert await audit_rows(app) == [
        (AuditEventType.PASSWORD_CHANGED, user.id, user.id, CLIENT, {"sessions_ended": 1})
    ]


async def test_a_password_reset_is_audited(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox, user: Account
) -> None:
    r = await client.post("/api/v1/auth/password/forgot", json={"email": user.email})
    assert r.status_code == 202, r.text
    token = token_in(mailbox, user.email, "reset-password")

    r = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert r.status_code == 204, r.text
    assert await audit_rows(app) == [
        (AuditEventType.PASSWORD_RESET, user.id, user.id, CLIENT, {"sessions_ended": 1})
    ]


async def test_an_email_change_is_audited_when_confirmed(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox, user: Account
) -> None:
    token = await change_email(client, mailbox, user, "ada.king@example.com")
    assert await audit_rows(app) == []  # asked for, not changed

    r = await client.post("/api/v1/auth/email/confirm", json={"token": token})

    assert r.status_code == 204, r.text
    assert await audit_rows(app) == [(AuditEventType.EMAIL_CHANGED, user.id, user.id, CLIENT, None)]


async def test_ending_sessions_is_audited_once_something_ends(
    app: FastAPI, client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    other_device = await sign_in_again(user)

    ended = await end_sessions(client, user, other_device)
    again = await client.post(
        f"{SESSIONS}/end",
        json={"current_password": PASSWORD, "session_ids": [str(user.id)]},  # no session's id
        headers=user.headers,
    )

    assert (ended.status_code, again.status_code) == (204, 204), again.text
    assert await audit_rows(app) == [
        (AuditEventType.SESSIONS_ENDED, user.id, user.id, CLIENT, {"sessions_ended": 1})
    ]


async def test_a_reused_refresh_token_is_audited_as_ended_by_no_one(
    app: FastAPI, client: httpx.AsyncClient, user: Account
) -> None:
    spend = {"refresh_token": user.refresh_token}
    assert (await client.post("/api/v1/auth/refresh", json=spend)).status_code == 200

    for _ in range(2):  # the second reuse finds the session ended already
        assert_unauthorized(await client.post("/api/v1/auth/refresh", json=spend))

    detail = {"sessions_ended": 1, "reason": "refresh_token_reused"}
    assert await audit_rows(app) == [(AuditEventType.SESSIONS_ENDED, None, user.id, CLIENT, detail)]


async def test_a_lockout_is_audited_once_and_only_for_an_account(
    database_url: str, mailbox: Mailbox, limiter_settings: dict[str, str], user: Account
) -> None:
    settings = audit_settings(
        database_url, mailbox, login_account_rate_limit="2/minute", **limiter_settings
    )
    async with running_app(settings) as application, client_for(application) as client:
        client.headers["X-Forwarded-For"] = CLIENT
        for email in (user.email, "nobody@example.com"):
            answers = [(await login(client, email, "a wrong guess")).status_code for _ in range(5)]
            assert answers == [401, 401, 429, 429, 429], email

        assert await audit_rows(application) == [
            (AuditEventType.LOCKED_OUT, None, user.id, CLIENT, None)
        ]


async def test_a_password_check_lockout_is_audited_once_as_the_user(
    database_url: str, mailbox: Mailbox, limiter_settings: dict[str, str], user: Account
) -> None:
    """Guessing through a signed-in user's password checks locks like guessing at sign-in."""
    settings = audit_settings(
        database_url, mailbox, login_account_rate_limit="2/minute", **limiter_settings
    )
    guess = {"current_password": "a wrong guess", "new_password": NEW_PASSWORD}
    async with running_app(settings) as application, client_for(application) as client:
        client.headers["X-Forwarded-For"] = CLIENT
        answers = [
            (await client.post(PASSWORD_URL, json=guess, headers=user.headers)).status_code
            for _ in range(5)
        ]

        assert answers == [400, 400, 429, 429, 429]
        detail = {"reason": "reauthentication"}
        assert await audit_rows(application) == [
            (AuditEventType.LOCKED_OUT, user.id, user.id, CLIENT, detail)
        ]


async def test_a_long_address_is_cut_to_the_column_not_refused(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    address = "2001:db8::" + "f" * 100  # what a trusted proxy says is taken as it is
    headers = {**admin.headers, "X-Forwarded-For": address}

    r = await client.patch(f"{USERS}/{user.id}", json={"role": "admin"}, headers=headers)

    assert r.status_code == 200, r.text
    assert [row[3] for row in await audit_rows(app)] == [address[:64]]


# --- All or nothing ---------------------------------------------------------------------------


Change = Callable[[httpx.AsyncClient, Account, Account], Awaitable[httpx.Response]]


async def promote(client: httpx.AsyncClient, admin: Account, user: Account) -> httpx.Response:
    return await patch_user(client, admin, user, role="admin", is_active=False)


async def new_password(client: httpx.AsyncClient, _admin: Account, user: Account) -> httpx.Response:
    return await change_password(client, user)


@pytest.mark.parametrize("change", [promote, new_password], ids=["admin-change", "password"])
async def test_a_change_whose_commit_fails_leaves_no_row(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: Account,
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    change: Change,
) -> None:
    async def write_then_fail(self: AsyncSession) -> None:
        await self.flush()  # the change and its row reach the database, uncommitted
        raise RuntimeError("the database went away")

    monkeypatch.setattr(AsyncSession, "commit", write_then_fail)
    r = await change(client, admin, user)
    monkeypatch.undo()

    assert_problem(r, 500)
    assert await audit_rows(app) == []
    async with app.state.sessionmaker() as session:
        unchanged = await session.get(User, user.id)
    assert unchanged is not None
    assert (unchanged.role, unchanged.is_active) == (Role.USER, True)
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_an_email_change_the_database_refuses_leaves_no_row(
    app: FastAPI,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    user: Account,
    other_user: Account,
) -> None:
    token = await change_email(client, mailbox, user, "wanted@example.com")
    await change_user(app, other_user.id, email="wanted@example.com")

    r = await client.post("/api/v1/auth/email/confirm", json={"token": token})

    assert_problem(r, 409, "An account with this email already exists.")
    assert await audit_rows(app) == []


# --- Nothing secret -------------------------------------------------------------------------


async def test_no_row_holds_a_secret(
    app: FastAPI,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    admin: Account,
    user: Account,
    make_account: MakeAccount,
    sign_in_again: SignInAgain,
) -> None:
    other_device = await sign_in_again(user)
    grace = await make_account(email="grace@example.com")
    r = await client.post("/api/v1/auth/password/forgot", json={"email": grace.email})
    assert r.status_code == 202, r.text
    reset_token = token_in(mailbox, grace.email, "reset-password")
    email_token = await change_email(client, mailbox, user, "ada.king@example.com")
    spent = {"refresh_token": user.refresh_token}
    changes = [
        await end_sessions(client, user, other_device),
        await client.post("/api/v1/auth/refresh", json=spent),
        await client.post("/api/v1/auth/refresh", json=spent),  # reused: ends the session
        await client.post(
            "/api/v1/auth/password/reset",
            json={"token": reset_token, "new_password": NEW_PASSWORD},
        ),
        await client.post("/api/v1/auth/email/confirm", json={"token": email_token}),
        await patch_user(client, admin, grace, role="admin", is_active=False),
    ]
    assert [r.status_code for r in changes] == [204, 200, 401, 204, 204, 200]
    async with app.state.engine.connect() as connection:
        hashes = (await connection.execute(text("SELECT password_hash FROM users"))).scalars().all()
        rows = (await connection.execute(text("SELECT * FROM audit_events"))).mappings().all()
    secrets = [
        PASSWORD,
        NEW_PASSWORD,
        reset_token,
        email_token,
        *hashes,
        *(account.access_token for account in (admin, user, grace, other_device)),
        *(account.refresh_token for account in (admin, user, grace, other_device)),
        # Not secrets, but personal data the log has no need of.
        user.email,
        "ada.king@example.com",
        grace.email,
    ]

    assert {row["event"] for row in rows} == {
        "sessions_ended",
        "password_reset",
        "email_changed",
        "role_changed",
        "activation_changed",
    }
    for row in rows:
        for column, value in row.items():
            found = [secret for secret in secrets if secret and secret in str(value)]
            assert not found, f"{column} holds {found}"
