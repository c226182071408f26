"""Fixtures shared by the template tests.

Environment variables read here:

- ``TEST_DATABASE_URL``: a PostgreSQL server the PostgreSQL runs use, for example
  ``postgresql://postgres@127.0.0.1:5432/test``. Each run gets a fresh database created on that
  server and dropped afterwards. Unset or unreachable, those runs are skipped on a laptop.
- ``CI``: when ``true``, a missing or unreachable PostgreSQL fails those runs instead of skipping
  them, so CI can never pass by not testing PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from copier import run_copy
from helpers import RENDERS, REPO_ROOT, temporary_postgres_database, unavailable
from projects import git_identity as isolated_git
from pytest_copie.plugin import Copie, Result


@pytest.fixture(scope="session", autouse=True)
def isolated_copier_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Hide the developer's own Copier settings (defaults, trusted repos) from every render.

    Copier 9.19 refuses a zero-byte settings file, so the file holds an empty mapping.
    """
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("{}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COPIER_SETTINGS_PATH", str(settings))
        yield settings


@pytest.fixture(scope="module")
def git_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For a module's tests: a git identity, and none of the developer's git configuration."""
    with isolated_git(tmp_path_factory.mktemp("git-config")):
        yield


@pytest.fixture
def copy_template(tmp_path: Path) -> Callable[[Mapping[str, Any]], Path]:
    """Render the work tree with ``answers`` as ``copier copy --defaults --data`` would.

    Every answer goes through its validator (secret ones too) and unsafe template features are
    refused, so a ``ValueError`` raised here is what a user would see.
    """
    counter = itertools.count()

    def copy(answers: Mapping[str, Any]) -> Path:
        destination = tmp_path / f"project{next(counter)}"
        run_copy(
            str(REPO_ROOT),
            destination,
            data=dict(answers),
            defaults=True,
            vcs_ref="HEAD",
            unsafe=False,
            quiet=True,
        )
        return destination

    return copy


@pytest.fixture(scope="session")
def render(copie_session: Copie) -> Callable[[str], Path]:
    """Render one of ``RENDERS`` by name, once per session, and return the project directory.

    ``vcs_ref="HEAD"`` renders the work tree (uncommitted changes included), never the last tag.
    """
    results: dict[str, Result] = {}

    def render_named(name: str) -> Path:
        if name not in results:
            results[name] = copie_session.copy(
                extra_answers=RENDERS[name], template_dir=REPO_ROOT, vcs_ref="HEAD"
            )
        result = results[name]
        if result.exception is not None or result.project_dir is None:
            pytest.fail(f"rendering {name!r} failed: {result.exception!r}")
        return result.project_dir

    return render_named


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """``TEST_DATABASE_URL`` once it answers; skip without it, or fail when ``CI=true``."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        unavailable(
            "TEST_DATABASE_URL is not set: set it to a PostgreSQL server, "
            "e.g. postgresql://postgres@127.0.0.1:5432/test"
        )
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL does not answer: {error}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``TEST_REDIS_URL`` once it answers; skip without it, or fail when ``CI=true``."""
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        unavailable(
            "TEST_REDIS_URL is not set: set it to a Redis server, e.g. redis://127.0.0.1:6379/0"
        )
    try:
        with redis.Redis.from_url(url, socket_timeout=5) as client:
            client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at TEST_REDIS_URL does not answer: {error}")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(backend, url)`` of an empty database that lives for one test."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'app.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    with temporary_postgres_database(server_url) as url:
        yield "postgresql", url
