"""The default render behind a transaction-mode PgBouncer, and on a PostgreSQL that only speaks TLS.

Each test starts the servers it needs on free loopback ports and stops them afterwards; the
PostgreSQL of ``TEST_DATABASE_URL`` is only connected to, never reconfigured. The tools come from
Debian (``pgbouncer``, PostgreSQL's ``initdb``/``pg_ctl``, ``openssl``); ``.ci/run`` installs what
is missing. Without them the tests skip on a laptop and fail when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import (
    clean_env,
    explain,
    free_port,
    python_module,
    require_success,
    run,
    temporary_postgres_database,
)

# Tests of the default render that run the same statements many times (paging through users,
# the engine's own checks): psycopg prepares a statement on its fifth run, which is what a
# transaction pooler breaks. The whole suite passes there too; this keeps the run short.
POOLED_SUBSET = ("tests/admin", "tests/test_db.py")


def require_tool(name: str, *, also_in: tuple[str, ...] = ()) -> str:
    """The path of command ``name``; skip without it, or fail when ``CI=true``."""
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *also_in]))
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install pgbouncer postgresql openssl)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A directory that a server dropped to an unprivileged user (when we run as root) can read."""
    directory = Path(tempfile.mkdtemp(prefix="tpl-server-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on port {port}:\n{log.read_text()}")


@contextmanager
def pgbouncer(database_url: str) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of ``database_url``; yields the pooled URL.

    Round robin over a warm pool, as on a busy pooler: consecutive transactions of one client
    land on different server connections.
    """
    binary = require_tool("pgbouncer", also_in=("/usr/sbin",))
    server = urlsplit(database_url)
    port = free_port()
    with world_readable_dir() as directory:
        config = directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={server.hostname} port={server.port or 5432} user={server.username}"
            + (f" password={server.password}" if server.password else "")
            + "\n\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            "auth_type = any\npool_mode = transaction\n"
            "default_pool_size = 10\nmin_pool_size = 4\nserver_round_robin = 1\n"
            # psycopg sends nothing else at start-up; libpq's `options` stays refused.
            "ignore_startup_parameters = extra_float_digits\n"
        )
        config.chmod(0o644)
        log = directory / "pgbouncer.log"
        # PgBouncer refuses to run as root; -u drops to an unprivileged user.
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with log.open("wb") as output:
            process = subprocess.Popen(
                [binary, *as_user, str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(port, process, log)
            yield server._replace(netloc=f"{server.username}@127.0.0.1:{port}").geturl()
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def project(render: Callable[[str], Path]) -> Path:
    return render("defaults")


@pytest.fixture(scope="module")
def pooled_url(postgres_url: str) -> Iterator[str]:
    with temporary_postgres_database(postgres_url) as url, pgbouncer(url) as pooled:
        yield pooled


def run_suite(
    project: Path, database_url: str, *arguments: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The render's own pytest on ``database_url``, with ``arguments`` (options, test paths)."""
    command = python_module("pytest", "-q", "-p", "no:copie", *arguments)
    return run(
        command,
        cwd=project,
        env=clean_env(ENVIRONMENT="test", TEST_DATABASE_URL=database_url, **env),
    )


def test_suite_passes_behind_a_transaction_pooler(project: Path, pooled_url: str) -> None:
    result = run_suite(project, pooled_url, *POOLED_SUBSET, TEST_DB_TRANSACTION_POOLER="true")

    require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)


def test_suite_fails_behind_a_transaction_pooler_without_the_setting(
    project: Path, pooled_url: str
) -> None:
    """Prepared statements break there: the setting is what makes the suite above pass."""
    result = run_suite(project, pooled_url, "--exitfirst", *POOLED_SUBSET)

    assert result.returncode == 1, explain(result)
    assert re.search(r'prepared statement "_pg3_\d+" (does not|already) exist', result.stdout), (
        explain(result)
    )


def server_user() -> list[str]:
    """A prefix that runs PostgreSQL's tools as ``postgres`` when we are root: they refuse root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def postgres_tool(name: str) -> str:
    """``initdb`` or ``pg_ctl``: on PATH, or in Debian's versioned directory."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return require_tool(name, also_in=tuple(str(path) for path in versions))


@contextmanager
def tls_only_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster with a self-signed certificate and ``hostssl`` lines only.

    Yields its URL without TLS options. Trust authentication: it listens on loopback only.
    """
    initdb, pg_ctl = postgres_tool("initdb"), postgres_tool("pg_ctl")
    openssl = require_tool("openssl")
    port = free_port()
    with world_readable_dir() as directory:
        data = directory / "data"
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        require_success(
            run(
                [*server_user(), initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
                cwd=directory,
                env=clean_env(),
            )
        )
        require_success(
            run(
                [
                    *server_user(),
                    openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", data / "server.key",
                    "-out", data / "server.crt",
                ],
                cwd=directory,
                env=clean_env(),
            )
        )  # fmt: skip
        (data / "server.key").chmod(0o600)
        (data / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 trust\n")
        settings = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
            " -c ssl=on -c fsync=off"
        )
        log = directory / "server.log"
        start = [*server_user(), pg_ctl, "-D", data, "-l", log, "-o", settings, "-w", "start"]
        result = run(start, cwd=directory, env=clean_env())
        if result.returncode != 0:
            pytest.fail(f"{explain(result)}\n{log.read_text(errors='replace')}")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            stop = [*server_user(), pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]
            run(stop, cwd=directory, env=clean_env())


@pytest.fixture(scope="module")
def tls_url() -> Iterator[str]:
    with tls_only_postgres() as url:
        yield url


def migrate(project: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(ENVIRONMENT="test", DATABASE_URL=database_url)
    return run(python_module("alembic", "upgrade", "head"), cwd=project, env=env)


def test_a_tls_only_server_is_reached_with_sslmode_require(project: Path, tls_url: str) -> None:
    """The URL as a provider gives it: the app's driver swap keeps `sslmode`."""
    require_success(migrate(project, f"{tls_url}?sslmode=require"))
    result = run_suite(project, f"{tls_url}?sslmode=require", "tests/test_db.py")

    require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)


def test_a_tls_only_server_refuses_a_connection_without_tls(project: Path, tls_url: str) -> None:
    """Also shows that `sslmode` reaches the driver: its default, `prefer`, would use TLS."""
    result = migrate(project, f"{tls_url}?sslmode=disable")

    assert result.returncode != 0, explain(result)
    assert "no encryption" in result.stderr, explain(result)
