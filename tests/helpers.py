"""Plain helpers for the template tests: the sample answer sets, subprocesses and databases."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from urllib.request import urlopen

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
    # A domain: references (required, optional, to itself, cascading), a list of references,
    # enumerations, bounds and unique values, as in docs/resources.md.
    "domain": {
        "project_name": "Planner",
        "resources": {
            "project": {
                "name": "str(1..120) unique",
                "status": "enum(active, archived) = active",
                "budget": "decimal(0..)?",
                "ratio": "float(0.5..1.5)?",
            },
            "tag": {"label": "str(40) unique"},
            "task": {
                "title": "str(200) search",
                "project": "project",
                "parent": "task?",
                "tags": "tag[]",
                "estimate": "int(0..1000) = 0 index",
                "state": "enum(todo, doing, done) = todo",
            },
            "note": {
                "body": "text search",
                "task": {"ref": "task", "on_delete": "cascade"},
                "code": "uuid? unique",
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

# The `python_version` answers the template supports (its validator's list): "defaults" and the
# other RENDERS take the lowest, and tests/test_render.py checks one render at each other one.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")

# Variables that would silently point a rendered project at another database, key, mail server,
# metrics directory, trace collector or virtualenv.
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
        "SMTP_URL",
        "MAIL_ENABLED",
        "METRICS_ENABLED",
        "METRICS_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "ENVIRONMENT",
        "VIRTUAL_ENV",
        "UV_PROJECT_ENVIRONMENT",
        "PYTHONPATH",
        "PYTEST_ADDOPTS",
        "PYTEST_CURRENT_TEST",
        "PYTEST_VERSION",
    }
)


def unavailable(reason: str) -> NoReturn:
    """A missing service or tool: skipped on a laptop, a failure when ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


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
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``, feeding it ``stdin``, and capture what it prints, as text."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env),
        input=stdin,
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
    with dropped_afterwards(server_url, name) as url:
        yield url


@contextmanager
def dropped_afterwards(server_url: str, name: str) -> Iterator[str]:
    """The URL of database ``name`` on the server of ``server_url``; drops it if it was made."""
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


# A ```sh block, indented as in a list item or not: (its indentation, its lines).
SHELL_BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"<<'?(\w+)'?$")


def shell_blocks(markdown: str) -> list[list[str]]:
    """The commands of each ```sh block in ``markdown``, without comments.

    A here-document stays one command with its lines, up to and including its terminator.
    """
    blocks = []
    for indent, block in SHELL_BLOCK.findall(markdown):
        commands: list[str] = []
        lines = (line.removeprefix(indent) for line in block.splitlines())
        for line in lines:
            if not line.strip() or line[0] == "#":
                continue
            command = line.split("  #")[0].strip()
            if heredoc := HEREDOC.search(command):
                body = []
                for body_line in lines:
                    body.append(body_line)
                    if body_line == heredoc.group(1):
                        break
                command = "\n".join([command, *body])
            commands.append(command)
        blocks.append(commands)
    return blocks


def shell_commands(markdown: str) -> list[str]:
    """The commands of every ```sh block in ``markdown``, in order."""
    return [command for block in shell_blocks(markdown) for command in block]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(
    url: str, server: subprocess.Popen[str], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited {server.returncode}:\n{log.read_text()}")
        try:
            with urlopen(url, timeout=1) as response:  # noqa: S310 (our own loopback URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer {url} within {timeout} s:\n{log.read_text()}")


@contextmanager
def serving(project: Path, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """Serve the render's app with uvicorn on a free loopback port; yield its base URL.

    What uvicorn prints goes to ``log``: a pipe nobody reads would stall it once full.
    """
    port = free_port()
    command = python_module("uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port))
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=project, env=dict(env), stdout=output, stderr=subprocess.STDOUT, text=True
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(f"{base_url}/health/live", server, log)
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
