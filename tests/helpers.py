"""Plain helpers for the template tests: the sample answer sets, subprocesses and databases."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent

# The sample projects every per-render check runs on, by name. Answers are what a user would type.
RENDERS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # Every field type, required and optional, with and without defaults, and a snake_case name
    # whose plural is irregular ("stock_categories"); PyJWT with ES256 keys. Two resources encrypt
    # a field: the key rotation must find every table.
    "all-field-types": {
        "project_name": "Field Zoo",
        "jwt_library": "pyjwt",
        "jwt_algorithm": "ES256",
        "resources": {
            "book": {
                "title": "str(80)",
                "summary": "text?",
                "pages": "int = 100",
                "rating": "float?",
                "price": "decimal = 9.99",
                "in_print": "bool = true",
                "published_on": "date?",
                "isbn": "str",
                "licence_key": "encrypted",
            },
            "event": {
                "name": "str",
                "starts_at": "datetime",
                "ends_at": "datetime?",
                "reference": "uuid",
                "contact": "email?",
                "link": "url?",
                "capacity": "int?",
                "notes": 'text = "Bring snacks"',
                "door_code": "encrypted(12)?",
            },
            "stock_category": {
                "label": "str = misc",
                "quantity": "decimal?",
                "active": "bool = false",
                "review_on": "date",
                "weight": "float = 1.5",
                "code": "uuid?",
                "buyer": "email",
                "homepage": "url",
                "last_seen": "datetime?",
            },
        },
    },
    "postgresql": {
        "project_name": "Pg Shop",
        "database_url": "postgres://postgres@127.0.0.1:5432/test",
        "jwt_algorithm": "RS256",
        "resources": {
            "order": {
                "reference": "str(40)",
                "total": "decimal = 0",
                "paid": "bool",
                "card_token": "encrypted?",
            }
        },
    },
}

# Variables that would silently point a rendered project at another database, key or virtualenv.
LEAKY_ENV_VARS = frozenset(
    {
        "DATABASE_URL",
        "MIGRATIONS_DATABASE_URL",
        "TEST_DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "JWT_PRIVATE_KEY",
        "JWT_RETIRED_PUBLIC_KEYS",
        "FIELD_ENCRYPTION_KEYS",
        "ENVIRONMENT",
        "VIRTUAL_ENV",
        "UV_PROJECT_ENVIRONMENT",
        "PYTHONPATH",
        "PYTEST_ADDOPTS",
        "PYTEST_CURRENT_TEST",
        "PYTEST_VERSION",
    }
)


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment less ``LEAKY_ENV_VARS``, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV_VARS}
    env.update(overrides)
    return env


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` and capture what it prints, as text."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A failure message with the command, its exit code and everything it printed."""
    command = " ".join(str(part) for part in result.args)
    ran_nothing = " (pytest ran no test)" if result.returncode == 5 and "pytest" in command else ""
    return (
        f"`{command}` exited {result.returncode}{ran_nothing}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def require_success(result: subprocess.CompletedProcess[str]) -> None:
    """Fail the test with ``explain(result)`` unless the command exited 0."""
    if result.returncode != 0:
        pytest.fail(explain(result), pytrace=False)


def python_module(module: str, *args: str) -> list[str]:
    """A command that runs ``module`` with the interpreter running these tests."""
    return [sys.executable, "-m", module, *args]


@contextmanager
def temporary_postgres_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``server_url``, yield its URL, drop it after."""
    name = f"tpl_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))
