"""Forged, altered, expired and misused tokens all meet the same 401."""

import base64
import json
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest
from jose import jwt

from tests.helpers import SECRET_KEY, Account, assert_unauthorized, bearer

ME = "/api/v1/users/me"


def claims_of(token: str, **changes: Any) -> dict[str, Any]:
    """The token's claims with `changes` applied; a change to None removes the claim."""
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(
    claims: dict[str, Any],
    *,
    key: str = SECRET_KEY,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    token: str = jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    return token


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """A token that claims `alg: none`: no signature at all."""
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def with_altered_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


async def test_a_token_signed_here_works(client: httpx.AsyncClient, user: Account) -> None:
    """The forgeries below differ from this one in one respect each, so each 401 means it."""
    token = sign(claims_of(user.access_token, jti=str(uuid4())))

    r = await client.get(ME, headers=bearer(token))

    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Basic YWRhQGV4YW1wbGUuY29tOnBhc3N3b3Jk"},
    ],
    ids=["missing", "empty", "garbage", "three-parts", "basic-auth"],
)
async def test_no_usable_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert_unauthorized(await client.get(ME, headers=headers))


async def test_a_token_in_the_query_string_is_ignored(
    client: httpx.AsyncClient, user: Account
) -> None:
    r = await client.get(ME, params={"access_token": user.access_token})

    assert_unauthorized(r)


async def test_alg_none_is_refused(client: httpx.AsyncClient, user: Account) -> None:
    token = unsigned(claims_of(user.access_token))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_an_altered_signature_is_refused(client: httpx.AsyncClient, user: Account) -> None:
    token = with_altered_signature(user.access_token)

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_altered_claims_are_refused(
    client: httpx.AsyncClient, user: Account, other_user: Account
) -> None:
    """Another user's id in a payload that kept its old signature."""
    header, _, signature = user.access_token.split(".")
    payload = b64(claims_of(user.access_token, sub=str(other_user.id)))

    r = await client.get(ME, headers=bearer(f"{header}.{payload}.{signature}"))

    assert_unauthorized(r)


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [("another-key-" + "0" * 52, "HS256"), (SECRET_KEY, "HS512"), (SECRET_KEY, "HS384")],
    ids=["other-key", "hs512", "hs384"],
)
async def test_other_keys_and_algorithms_are_refused(
    client: httpx.AsyncClient, user: Account, key: str, algorithm: str
) -> None:
    token = sign(claims_of(user.access_token), key=key, algorithm=algorithm)

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize(
    "header",
    [
        {"kid": "../../secret"},
        {"jku": "https://attacker.example/keys.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": {"kty": "oct", "k": "AAAA"}},
        {"crit": ["exp"]},
    ],
    ids=["kid", "jku", "x5u", "jwk", "crit"],
)
async def test_extra_header_parameters_are_refused(
    client: httpx.AsyncClient, user: Account, header: dict[str, Any]
) -> None:
    token = sign(claims_of(user.access_token), headers=header)

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, user: Account) -> None:
    now = int(time.time())
    token = sign(claims_of(user.access_token, iat=now - 3600, exp=now - 60))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, user: Account
) -> None:
    assert_unauthorized(await client.get(ME, headers=bearer(user.refresh_token)))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"type": "admin"},
        {"sub": "not-a-uuid"},
    ],
    ids=["issuer", "audience", "type", "subject"],
)
async def test_wrong_claims_are_refused(
    client: httpx.AsyncClient, user: Account, changes: dict[str, str]
) -> None:
    token = sign(claims_of(user.access_token, **changes))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "iss", "aud", "sid", "type"])
async def test_every_claim_is_required(
    client: httpx.AsyncClient, user: Account, claim: str
) -> None:
    token = sign(claims_of(user.access_token, **{claim: None}))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_token_of_an_unknown_session_is_refused(
    client: httpx.AsyncClient, user: Account
) -> None:
    token = sign(claims_of(user.access_token, sid=str(uuid4())))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_session_serves_only_its_own_user(
    client: httpx.AsyncClient, user: Account, other_user: Account
) -> None:
    """A well-signed token whose session belongs to someone else."""
    token = sign(claims_of(user.access_token, sub=str(other_user.id)))

    assert_unauthorized(await client.get(ME, headers=bearer(token)))
