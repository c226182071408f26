"""A user sees their live sessions and ends any of them after re-entering the password
(ASVS V7.5.2); password checks of a signed-in user are rate limited like sign-ins."""

import httpx
import pytest

from tests.helpers import (
    Account,
    SignInAgain,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    client_for,
    extra_forbidden,
    make_settings,
    running_app,
)
from tests.tokens import claims_of

SESSIONS = "/api/v1/users/me/sessions"
END = "/api/v1/users/me/sessions/end"
ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"
WRONG = "The current password is incorrect."


def session_id(account: Account) -> str:
    sid: str = claims_of(account.access_token)["sid"]
    return sid


async def test_a_user_lists_only_their_own_live_sessions(
    client: httpx.AsyncClient, user: Account, other_user: Account, sign_in_again: SignInAgain
) -> None:
    laptop = await sign_in_again(user)

    r = await client.get(SESSIONS, headers=laptop.headers)

    assert r.status_code == 200, r.text
    listed = {entry["id"]: entry["current"] for entry in r.json()}
    assert listed == {session_id(laptop): True, session_id(user): False}
    assert session_id(other_user) not in listed


async def test_ending_a_session_signs_it_out_at_once(
    client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    stolen = await sign_in_again(user)
    body = {"current_password": user.password, "session_ids": [session_id(stolen)]}

    r = await client.post(END, json=body, headers=user.headers)

    assert r.status_code == 204, r.text
    assert_unauthorized(await client.get(ME, headers=stolen.headers))
    assert_unauthorized(await client.post(REFRESH, json={"refresh_token": stolen.refresh_token}))
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    listed = [entry["id"] for entry in (await client.get(SESSIONS, headers=user.headers)).json()]
    assert listed == [session_id(user)]


async def test_a_user_may_end_their_current_session(
    client: httpx.AsyncClient, user: Account
) -> None:
    body = {"current_password": user.password, "session_ids": [session_id(user)]}

    assert (await client.post(END, json=body, headers=user.headers)).status_code == 204
    assert_unauthorized(await client.get(ME, headers=user.headers))


async def test_ending_sessions_needs_the_password(
    client: httpx.AsyncClient, user: Account, sign_in_again: SignInAgain
) -> None:
    laptop = await sign_in_again(user)
    body = {"current_password": "not my password", "session_ids": [session_id(laptop)]}

    r = await client.post(END, json=body, headers=user.headers)

    assert_problem(r, 400, WRONG)
    assert (await client.get(ME, headers=laptop.headers)).status_code == 200


async def test_another_users_session_cannot_be_ended(
    client: httpx.AsyncClient, user: Account, other_user: Account
) -> None:
    body = {"current_password": user.password, "session_ids": [session_id(other_user)]}

    r = await client.post(END, json=body, headers=user.headers)

    assert r.status_code == 204, r.text
    assert (await client.get(ME, headers=other_user.headers)).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"current_password": "x", "session_ids": []}, "too_short"),
        ({"current_password": "x", "session_ids": ["not-a-uuid"]}, "uuid_parsing"),
    ],
    ids=["no-sessions", "not-a-uuid"],
)
async def test_malformed_requests_are_refused(
    client: httpx.AsyncClient, user: Account, body: dict[str, object], error: str
) -> None:
    r = await client.post(END, json=body, headers=user.headers)

    assert r.status_code == 422, r.text
    assert [e["type"] for e in r.json()["errors"]] == [error]


async def test_unknown_fields_are_refused(client: httpx.AsyncClient, user: Account) -> None:
    body = {"current_password": "x", "session_ids": [session_id(user)], "user_id": "x"}

    r = await client.post(END, json=body, headers=user.headers)

    assert_invalid(r, extra_forbidden("body", "user_id"))


async def test_sessions_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(SESSIONS))
    assert_unauthorized(await client.post(END, json={}))


@pytest.mark.parametrize("path", [END, "/api/v1/users/me/password"])
async def test_password_checks_of_a_signed_in_user_are_rate_limited(
    database_url: str, limiter_settings: dict[str, str], user: Account, path: str
) -> None:
    """A stolen access token must not become a way to guess the password."""
    settings = make_settings(database_url, login_account_rate_limit="2/minute", **limiter_settings)
    guess = {"current_password": "a guess", "session_ids": [session_id(user)]}
    if path != END:
        guess = {"current_password": "a guess", "new_password": "a new long passphrase 42"}
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            assert_problem(await client.post(path, json=guess, headers=user.headers), 400, WRONG)
        limited = await client.post(path, json=guess, headers=user.headers)

    assert_problem(limited, 429, "Too many requests; retry later.")
