"""ASVS V6.2: common and guessable passwords are refused wherever a new password is set."""

import io
import secrets
from typing import Any

import httpx
import pytest
from zxcvbn import matching

from app import cli
from app.auth import passwords
from app.auth.passwords import ANALYSED_LENGTH
from app.core.config import Settings
from app.core.errors import FieldError
from tests.helpers import (
    INVALID,
    PASSWORD,
    Account,
    assert_problem,
    client_for,
    login,
    make_settings,
    running_app,
)

REGISTER = "/api/v1/auth/register"
PASSWORD_URL = "/api/v1/users/me/password"
EMAIL = "ada@example.com"  # the `user` fixture's email too
TOO_WEAK = "This password is too easy to guess."

GUESSABLE = pytest.mark.parametrize(
    "password",
    ["password123456", "qwertyuiop123", "ada@example.com!", "zxcvbnm,./as", "P@$$w0rd!2345"],
    ids=["common", "common-walk", "from-the-email", "keyboard-walk", "l33t-common"],
)


def assert_too_weak(response: httpx.Response, field: str, password: str) -> None:
    """A 422 like any validation error, with zxcvbn's advice and never the password."""
    assert_problem(response, 422, INVALID, errors=response.json().get("errors"))
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", field]
    assert error["type"] == "password_too_weak"
    assert error["msg"].startswith(TOO_WEAK)
    assert len(error["msg"]) > len(TOO_WEAK)  # with advice
    assert password not in response.text


@GUESSABLE
async def test_sign_up_refuses_a_guessable_password(
    client: httpx.AsyncClient, password: str
) -> None:
    r = await client.post(REGISTER, json={"email": EMAIL, "password": password})

    assert_too_weak(r, "password", password)
    assert (await login(client, EMAIL, password)).status_code == 401


@GUESSABLE
async def test_password_change_refuses_a_guessable_password(
    client: httpx.AsyncClient, user: Account, password: str
) -> None:
    change = {"current_password": PASSWORD, "new_password": password}

    r = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert_too_weak(r, "new_password", password)
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_a_password_built_from_the_name_is_refused(client: httpx.AsyncClient) -> None:
    payload = {"email": "al@example.com", "password": "Ada Lovelace!!", "full_name": "Ada Lovelace"}

    r = await client.post(REGISTER, json=payload)

    assert_too_weak(r, "password", payload["password"])


async def test_a_strong_password_is_accepted(client: httpx.AsyncClient, user: Account) -> None:
    new_password = secrets.token_urlsafe(18)
    change = {"current_password": PASSWORD, "new_password": new_password}

    signed_up = await client.post(REGISTER, json={"email": "b@example.com", "password": PASSWORD})
    changed = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert signed_up.status_code == 201, signed_up.text
    assert changed.status_code == 204, changed.text
    assert (await login(client, user.email, new_password)).status_code == 200


@pytest.mark.parametrize(
    ("min_score", "password", "accepted"),
    [
        (1, "qwertyuiop123", True),  # scores 1: refused by the default 3
        (3, "monkey dragon", True),  # scores 3
        (4, "monkey dragon", False),
        (0, "password123456", True),  # 0 turns the check off
    ],
)
async def test_password_min_score_sets_the_bar(
    database_url: str, min_score: int, password: str, accepted: bool
) -> None:
    settings = make_settings(database_url, password_min_score=min_score)
    async with running_app(settings) as application, client_for(application) as client:
        r = await client.post(REGISTER, json={"email": EMAIL, "password": password})

    if accepted:
        assert r.status_code == 201, r.text
    else:
        assert_too_weak(r, "password", password)


@pytest.mark.parametrize("value", [-1, 5])
def test_password_min_score_is_zero_to_four(value: int) -> None:
    with pytest.raises(ValueError, match="password_min_score"):
        make_settings("sqlite://", password_min_score=value)


async def test_create_admin_refuses_a_guessable_password(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("password123456\n"))

    with pytest.raises(FieldError, match=TOO_WEAK):
        await cli.run(["create-admin", "root@example.com", "--password-stdin"], settings)

    assert (await login(client, "root@example.com", "password123456")).status_code == 401


@pytest.mark.parametrize(
    ("password", "accepted"),
    [("ab" * 64, False), (secrets.token_urlsafe(96), True)],
    ids=["long-repeat", "long-random"],
)
async def test_a_long_password_is_judged_by_its_start(
    client: httpx.AsyncClient, password: str, accepted: bool
) -> None:
    """zxcvbn reads the first ANALYSED_LENGTH characters (it refuses more than 72 itself)."""
    assert len(password) == 128 > ANALYSED_LENGTH

    r = await client.post(REGISTER, json={"email": EMAIL, "password": password})

    if accepted:
        assert r.status_code == 201, r.text
        assert (await login(client, EMAIL, password)).status_code == 200
    else:
        assert_too_weak(r, "password", password)


# Built to make zxcvbn slow: many distinct l33t characters, repeated. Unbounded, the first two
# cost ~2 s of CPU each, and checks run one at a time; the last three are the costliest texts
# that the bound lets zxcvbn read.
SLOW_TO_JUDGE = {
    "l33t-128": ("4@8({[<369!|17105$+%2" * 7)[:128],
    "l33t-64": ("4@8({[<369!|17105$+%2" * 4)[:64],
    "l33t-at-the-start": "<+(|!$@[1574" + "x" * 52,
    "six-l33t-repeated": "+1157|s$+157|e$+157|s$+157|e$+15" * 4,
    "six-l33t-period": ("$+157|" * 22)[:128],
}
# zxcvbn's work is its dictionary search of every substring, once per reading of the l33t
# characters. The costliest text above searches ~22,000 substrings (~30 ms); the first two
# searched 1.7 million before the bound.
MAX_SUBSTRINGS_SEARCHED = 30_000


@pytest.mark.parametrize("password", SLOW_TO_JUDGE.values(), ids=SLOW_TO_JUDGE.keys())
async def test_the_strength_check_does_bounded_work(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """Counted in substrings rather than timed, so a busy machine cannot fail it."""
    searched: list[int] = []
    search = matching.dictionary_match

    def counting_search(text: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(len(text) * (len(text) + 1) // 2)
        return search(text, *args, **kwargs)

    monkeypatch.setattr(matching, "dictionary_match", counting_search)

    r = await client.post(REGISTER, json={"email": EMAIL, "password": password})

    assert r.status_code in (201, 422), r.text
    assert 0 < sum(searched) <= MAX_SUBSTRINGS_SEARCHED


@pytest.mark.parametrize(
    "new_password", ["password123456", SLOW_TO_JUDGE["l33t-64"]], ids=["weak", "slow-to-judge"]
)
async def test_a_password_change_checks_the_current_password_first(
    client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch, new_password: str
) -> None:
    """A stolen access token gets no strength estimates, and spends no CPU on them."""
    judged: list[str] = []
    estimate = passwords.estimate_strength

    def judging(password: str, user_inputs: list[str]) -> passwords.Strength:
        judged.append(password)
        return estimate(password, user_inputs)

    monkeypatch.setattr(passwords, "estimate_strength", judging)
    change = {"current_password": "not my password", "new_password": new_password}

    r = await client.post(PASSWORD_URL, json=change, headers=user.headers)

    assert_problem(r, 400, "The current password is incorrect.")
    assert judged == []
