"""Schemathesis calls every operation of a render's API and holds each answer to its OpenAPI.

The render is migrated onto a fresh database and served by uvicorn on 127.0.0.1. Schemathesis
then runs its examples, coverage, fuzzing and stateful phases with the settings and checks of
``tests/schemathesis.toml``: no 5xx, and every status, content type, header and body as the
document says. It signs its calls with a user's token, then calls the admin operations again with
an admin's, so that both sides of the role check are exercised.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from helpers import REPO_ROOT, clean_env, python_module, require_success, run, serving

FORM = "application/x-www-form-urlencoded"
CONFIG = REPO_ROOT / "tests" / "schemathesis.toml"
HOOKS = REPO_ROOT / "tests" / "schemathesis_hooks.py"
# "all-field-types" has every field type, on PostgreSQL, which refuses more values than SQLite;
# "defaults", on SQLite, is the render most projects start from.
FUZZED = [
    ("all-field-types", "postgresql"),
    ("defaults", "sqlite"),
]
# Schemathesis is one fast client of one account: every rate limit would stop it.
UNTHROTTLED = {
    name: "100000/minute"
    for name in (
        "LOGIN_RATE_LIMIT",
        "LOGIN_ACCOUNT_RATE_LIMIT",
        "REGISTER_RATE_LIMIT",
        "REGISTER_ACCOUNT_RATE_LIMIT",
        "REFRESH_RATE_LIMIT",
        "REFRESH_ACCOUNT_RATE_LIMIT",
        "ACCOUNT_MAIL_RATE_LIMIT",
        "ACCOUNT_MAIL_ACCOUNT_RATE_LIMIT",
    )
}


def call(url: str, headers: Mapping[str, str], data: bytes | None = None) -> Any:
    """The JSON answer of our own loopback server to a POST of ``data``, or a GET without."""
    request = Request(url, data=data, headers=dict(headers))  # noqa: S310 (loopback URL)
    with urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def sign_in(base_url: str, email: str, password: str) -> str:
    """An access token for the account."""
    form = urlencode({"username": email, "password": password}).encode()
    tokens = call(f"{base_url}/api/v1/auth/login", {"Content-Type": FORM}, form)
    return str(tokens["access_token"])


@pytest.mark.parametrize(("name", "database"), FUZZED, indirect=["database"])
def test_every_answer_matches_the_openapi_document(
    name: str,
    render: Callable[[str], Path],
    database: tuple[str, str],
    tmp_path: Path,
) -> None:
    project = render(name)
    _, url = database
    env = clean_env(
        ENVIRONMENT="development",
        DATABASE_URL=url,
        SECRET_KEY=secrets.token_hex(32),
        **UNTHROTTLED,
    )
    require_success(run(python_module("alembic", "upgrade", "head"), cwd=project, env=env))
    admin_password = secrets.token_urlsafe(24)
    create_admin = python_module("app.cli", "create-admin", "admin@example.com", "--password-stdin")
    require_success(run(create_admin, cwd=project, env=env, stdin=f"{admin_password}\n"))

    with serving(project, env, tmp_path / "uvicorn.log") as base_url:
        user_password = secrets.token_urlsafe(24)
        account = json.dumps({"email": "fuzz@example.com", "password": user_password}).encode()
        call(f"{base_url}/api/v1/auth/register", {"Content-Type": "application/json"}, account)

        def schemathesis(token: str, *options: str) -> None:
            command = python_module(
                "schemathesis.cli",
                "--no-color",
                "--config-file",
                str(CONFIG),
                "run",
                f"{base_url}/openapi.json",
                *options,
            )
            result = run(
                command, cwd=tmp_path, env=clean_env(API_TOKEN=token, SCHEMATHESIS_HOOKS=str(HOOKS))
            )
            require_success(result)

        # Neither password reaches schemathesis, so no call it makes can end the session it runs
        # under: logging out takes that session's refresh token, a new password the current one.
        schemathesis(sign_in(base_url, "fuzz@example.com", user_password))
        # Last: an admin may deactivate the user above, which ends the user's sessions.
        admin_token = sign_in(base_url, "admin@example.com", admin_password)
        # The config excuses the admin operations' 403s, meant for the user's run: make sure
        # this token is an admin's (urlopen raises on an error status) before the run relies on it.
        call(f"{base_url}/api/v1/admin/users", {"Authorization": f"Bearer {admin_token}"})
        schemathesis(admin_token, "--include-tag", "admin")
