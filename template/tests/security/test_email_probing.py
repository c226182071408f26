"""An email change answers whether another account holds the address (409 or 200), as a sign-up
does: it is throttled like a sign-up, per client address and per account, so no one can probe
which emails have accounts at request speed."""

import httpx

from tests.helpers import Account, assert_problem, client_for, make_settings, running_app

ME = "/api/v1/users/me"
TAKEN = "An account with this email already exists."


def assert_rate_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "Too many requests; retry later.")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_email_changes_are_rate_limited_per_account(
    database_url: str,
    limiter_settings: dict[str, str],
    user: Account,
    other_user: Account,
    admin: Account,
) -> None:
    settings = make_settings(
        database_url,
        register_rate_limit="100/minute",
        register_account_rate_limit="2/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        free = await client.patch(ME, json={"email": "ada.king@example.com"}, headers=user.headers)
        taken = await client.patch(ME, json={"email": admin.email}, headers=user.headers)
        limited = await client.patch(ME, json={"email": "ada@example.org"}, headers=user.headers)
        renamed = await client.patch(ME, json={"full_name": "Ada"}, headers=user.headers)
        other_account = await client.patch(
            ME, json={"email": "grace@example.org"}, headers=other_user.headers
        )

    assert free.status_code == 200, free.text
    assert_problem(taken, 409, TAKEN)
    assert_rate_limited(limited)
    assert renamed.status_code == 200, renamed.text  # a change without an email is not counted
    assert other_account.status_code == 200, other_account.text


async def test_email_changes_are_rate_limited_per_client(
    database_url: str, limiter_settings: dict[str, str], user: Account, other_user: Account
) -> None:
    """Many accounts of one prober share the count of its address."""
    settings = make_settings(
        database_url,
        register_rate_limit="2/minute",
        register_account_rate_limit="100/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        for account in (user, other_user):
            r = await client.patch(ME, json={"email": "admin@example.com"}, headers=account.headers)
            assert r.status_code in (200, 409), r.text
        limited = await client.patch(ME, json={"email": "x@example.org"}, headers=user.headers)

    assert_rate_limited(limited)
