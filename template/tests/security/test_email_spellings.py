"""Spellings of one email are one account: to sign in, to sign up, and to every rate limit.

The per-account limits count the spelling that the account is stored and looked up by. When
they counted another one, a leading space, tab or no-break space made a fresh count for an
email that still signed in, and guessing went on past the lock.
"""

import httpx
import pytest

from app import cli
from app.auth.identifiers import normalize_email
from app.core.config import Settings
from tests.helpers import (
    PASSWORD,
    SIGN_IN_FAILED,
    Account,
    assert_problem,
    assert_unauthorized,
    bearer,
    client_for,
    login,
    make_settings,
    running_app,
)

REGISTER = "/api/v1/auth/register"
FORGOT = "/api/v1/auth/password/forgot"
ME = "/api/v1/users/me"
EMAIL = "ada@example.com"  # the `user` fixture's email
# Long enough for the schema, refused by the password policy: the attempt reaches the limiter.
WEAK = "password1234"

SPELLINGS = {
    "space": " ada@example.com",
    "tab": "\tada@example.com",
    "no-break-space": "\u00a0ada@example.com",
    "ideographic-space": "ada@example.com\u3000",
    "line-breaks": "\r\nada@example.com\n",
    "case": "ADA@Example.COM",
    "fullwidth": "\uff41\uff44\uff41@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    "everything": "\u2003\uff21da@EXAMPLE.com\u00a0",
}
each_spelling = pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())


def assert_rate_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "Too many requests; retry later.")
    assert 1 <= int(response.headers["retry-after"]) <= 60


@each_spelling
def test_a_spelling_normalises_to_the_email(spelling: str) -> None:
    assert normalize_email(spelling) == EMAIL


@pytest.mark.parametrize(
    "text", ["J\u030cohn@example.com", "\u01f0ohn@example.com", "\u212bngstr\u00f6m@example.com"]
)
def test_normalising_twice_changes_nothing(text: str) -> None:
    """Lower-casing can free a letter to take an accent; normalising composes it."""
    once = normalize_email(text)

    assert normalize_email(once) == once


@each_spelling
async def test_a_spelling_signs_in_to_the_same_account(
    client: httpx.AsyncClient, user: Account, spelling: str
) -> None:
    r = await login(client, spelling)

    assert r.status_code == 200, r.text
    me = await client.get(ME, headers=bearer(r.json()["access_token"]))
    assert me.json()["id"] == str(user.id)


@each_spelling
async def test_every_spelling_counts_against_one_sign_in_limit(
    database_url: str, limiter_settings: dict[str, str], user: Account, spelling: str
) -> None:
    settings = make_settings(
        database_url,
        login_rate_limit="100/minute",
        login_account_rate_limit="2/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            assert_unauthorized(await login(client, EMAIL, "a guess"), SIGN_IN_FAILED)
        limited = await login(client, spelling)

    assert_rate_limited(limited)


@each_spelling
async def test_a_spelling_of_a_taken_email_is_taken(
    client: httpx.AsyncClient, user: Account, spelling: str
) -> None:
    r = await client.post(REGISTER, json={"email": spelling, "password": PASSWORD})

    assert_problem(r, 409, "An account with this email already exists.")


@each_spelling
async def test_every_spelling_counts_against_one_sign_up_limit(
    database_url: str, limiter_settings: dict[str, str], spelling: str
) -> None:
    settings = make_settings(
        database_url,
        register_rate_limit="100/minute",
        register_account_rate_limit="2/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            weak = await client.post(REGISTER, json={"email": EMAIL, "password": WEAK})
            assert weak.status_code == 422, weak.text
        limited = await client.post(REGISTER, json={"email": spelling, "password": PASSWORD})

    assert_rate_limited(limited)


async def test_sign_up_stores_the_normalised_email(client: httpx.AsyncClient) -> None:
    r = await client.post(REGISTER, json={"email": SPELLINGS["everything"], "password": PASSWORD})

    assert r.status_code == 201, r.text
    assert r.json()["email"] == EMAIL
    assert (await login(client, EMAIL)).status_code == 200


async def test_an_email_that_normalises_to_no_address_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """NFKC spells the parenthesised digit out as "(1)", a comment in an address: the address
    checked is the one that would be stored."""
    r = await client.post(REGISTER, json={"email": "ada\u2474@example.com", "password": PASSWORD})

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "email"]


@each_spelling
async def test_every_spelling_counts_against_one_reset_request_limit(
    database_url: str, limiter_settings: dict[str, str], spelling: str
) -> None:
    settings = make_settings(
        database_url,
        account_mail_rate_limit="100/minute",
        account_mail_account_rate_limit="2/minute",
        **limiter_settings,
    )
    async with running_app(settings) as application, client_for(application) as client:
        for _ in range(2):
            asked = await client.post(FORGOT, json={"email": EMAIL})
            assert asked.status_code == 202, asked.text
        limited = await client.post(FORGOT, json={"email": spelling})

    assert_rate_limited(limited)


async def test_promote_finds_the_account_by_any_spelling(
    client: httpx.AsyncClient, settings: Settings, user: Account
) -> None:
    output = await cli.run(["promote", SPELLINGS["everything"]], settings)

    assert output == f"{EMAIL} is now an admin"
    assert (await client.get(ME, headers=user.headers)).json()["role"] == "admin"
