"""A rendered suite pointed at a PostgreSQL database that does not exist yet: it creates the
database, or, where its user may not, stops with one line that says what to do."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from helpers import clean_env, dropped_afterwards, explain, python_module, run
from psycopg import sql

# One quick test file of the rendered suite: enough to open the test database.
SOME_TESTS = "tests/test_health.py"


def rendered_suite(project: Path, database_url: str) -> tuple[int, str]:
    env = clean_env(ENVIRONMENT="test", TEST_DATABASE_URL=database_url)
    command = python_module("pytest", "-q", "-p", "no:copie", SOME_TESTS)
    result = run(command, cwd=project, env=env)
    return result.returncode, explain(result)


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def test_a_missing_test_database_is_created(
    render: Callable[[str], Path], postgres_url: str
) -> None:
    name = f"tpl_missing_{secrets.token_hex(6)}"
    with dropped_afterwards(postgres_url, name) as url:
        returncode, output = rendered_suite(render("defaults"), url)
        assert returncode == 0, output
        assert re.search(r"\b\d+ passed\b", output), output
        assert database_exists(postgres_url, name)


def test_a_database_that_cannot_be_created_is_one_line(
    render: Callable[[str], Path], postgres_url: str
) -> None:
    """A user without CREATEDB: no traceback, one line naming the database and `createdb`."""
    role, password = f"tpl_nocreate_{secrets.token_hex(6)}", secrets.token_hex(16)
    name = f"tpl_missing_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        create = sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB PASSWORD {}")
        admin.execute(create.format(sql.Identifier(role), sql.Literal(password)))
    try:
        server = urlsplit(postgres_url)
        netloc = f"{role}:{password}@{server.hostname}:{server.port or 5432}"
        url = server._replace(netloc=netloc, path=f"/{name}").geturl()
        returncode, output = rendered_suite(render("defaults"), url)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert returncode != 0, output
    assert "Traceback" not in output, output
    advice = [line for line in output.splitlines() if f"`createdb {name}`" in line]
    assert len(advice) == 1, output
    assert f"names database '{name}', which is missing" in advice[0], output
    assert not database_exists(postgres_url, name)
