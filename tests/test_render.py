"""Each sample render is clean, lints, type-checks, passes its own suite and migrates both ways.

Every check runs the rendered project's own tools with this environment's interpreter, in the
rendered directory, so the rendered ``pyproject.toml`` decides their settings. One render per
answer set (``helpers.RENDERS``) serves all the checks on it.
"""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import tomllib
from collections.abc import Callable, Iterator
from contextlib import closing
from importlib import metadata
from pathlib import Path

import psycopg
import pytest
from helpers import (
    PYTHON_VERSIONS,
    RENDERS,
    REPO_ROOT,
    clean_env,
    explain,
    python_module,
    require_success,
    run,
)
from packaging.requirements import Requirement
from pytest_copie.plugin import Copie

# Folders the tools below write into a project; nothing in them was rendered.
TOOL_CACHES = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".venv"})
# A Jinja delimiter left behind. GitHub Actions' own "${{ ... }}" is meant to stay.
JINJA_MARKER = re.compile(r"(?<!\$)\{\{|\{%|\{#")
# The project's own Jinja templates of its mails, copied as they are.
MAIL_TEMPLATES = Path("app/mail_templates")

STATIC_CHECKS = {
    "ruff-check": ("ruff", "check", "."),
    "ruff-format": ("ruff", "format", "--check", "--diff", "."),
    "mypy": ("mypy", "."),
}


# The answer set rendered at each newer python_version: each newer version's ruff rules include
# the older ones', so every set meets the rules of 3.12 at least, and all of them are checked.
NEWER_PYTHON_RENDERS = {"3.12": "domain", "3.13": "postgresql", "3.14": "all-field-types"}


@pytest.fixture(scope="session", params=list(RENDERS))
def project(request: pytest.FixtureRequest, render: Callable[[str], Path]) -> Path:
    """A rendered sample project, one per entry of ``RENDERS``."""
    return render(request.param)


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A clean environment whose tool caches live outside the projects and are shared by them."""
    caches = tmp_path_factory.mktemp("tool-caches")
    return clean_env(
        ENVIRONMENT="test",
        MYPY_CACHE_DIR=str(caches / "mypy"),
        RUFF_CACHE_DIR=str(caches / "ruff"),
    )


def rendered_files(project: Path) -> Iterator[Path]:
    """Every file the render wrote, without what tools cached there since."""
    for path in project.rglob("*"):
        if path.is_file() and TOOL_CACHES.isdisjoint(path.relative_to(project).parts):
            yield path


def test_no_template_syntax_left(project: Path) -> None:
    leftovers = []
    for path in rendered_files(project):
        relative = path.relative_to(project)
        if path.name.endswith(".jinja"):
            leftovers.append(f"{relative}: .jinja file name")
        if relative.is_relative_to(MAIL_TEMPLATES):
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if JINJA_MARKER.search(line):
                leftovers.append(f"{relative}:{number}: {line.strip()}")
    assert not leftovers, "template syntax in the render:\n" + "\n".join(leftovers)


def unmet(requirement: Requirement, seen: set[str]) -> list[str]:
    """Why ``requirement`` (with its extras) is not satisfied by this environment, if it is not."""
    if str(requirement) in seen:
        return []
    seen.add(str(requirement))
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return [f"{requirement}: not installed"]
    problems = []
    if not requirement.specifier.contains(installed, prereleases=True):
        problems.append(f"{requirement}: {installed} is installed")
    for extra in requirement.extras:
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}):
                problems += unmet(needed, seen)
    return problems


# The classes that a resource's name must not give its own class (includes/resources.jinja).
RESERVED_CLASSES = re.compile(r"set RESERVED_CLASSES = (\[.*?\])", re.DOTALL)


def test_every_class_a_resource_module_imports_is_reserved(project: Path) -> None:
    """A resource whose class would shadow a class imported beside it renders code that fails
    mypy; the questions refuse such names, and this keeps their list complete. Beside it: in
    its own modules and tests, and in every module that imports from them."""
    jinja = (REPO_ROOT / "includes" / "resources.jinja").read_text()
    reserved = set(ast.literal_eval(RESERVED_CLASSES.findall(jinja)[0]))
    resources = {path.parent.name for path in project.glob("app/*/router.py")}
    resources &= {path.parent.name for path in project.glob("app/*/models.py")}
    resources -= {"auth", "audit"}

    def from_a_resource(node: ast.ImportFrom) -> bool:
        # `from .models import ...` inside a resource's package, or `from app.<resource>...`.
        parts = (node.module or "").split(".")
        return node.level > 0 or (parts[0] == "app" and parts[1:2] in ([r] for r in resources))

    classes = set()
    for path in rendered_files(project):
        if path.suffix != ".py":
            continue
        imports = [
            node
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
        ]
        in_resource = path.parent.name in resources and path.parent.parent.name in {"app", "tests"}
        if in_resource or any(from_a_resource(node) for node in imports):
            classes |= {
                alias.asname or alias.name
                for node in imports
                if not from_a_resource(node)
                for alias in node.names
                if alias.name[0].isupper() and not alias.name.isupper()
            }
    assert classes <= reserved, f"add to RESERVED_CLASSES: {sorted(classes - reserved)}"


def test_rendered_dependencies_are_installed_here(project: Path) -> None:
    """The template env must hold what every render needs, or the other checks test nothing."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = [
        *pyproject["project"]["dependencies"],
        *pyproject["dependency-groups"]["dev"],
    ]
    seen: set[str] = set()
    problems = [problem for line in requirements for problem in unmet(Requirement(line), seen)]
    assert not problems, (
        "add these to the template repo's pyproject.toml dev group, then `uv lock`:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("check", list(STATIC_CHECKS))
def test_static_check_passes(project: Path, tool_env: dict[str, str], check: str) -> None:
    require_success(run(python_module(*STATIC_CHECKS[check]), cwd=project, env=tool_env))


def test_every_supported_python_version_is_checked() -> None:
    assert sorted(NEWER_PYTHON_RENDERS) == list(PYTHON_VERSIONS[1:])
    lowest = PYTHON_VERSIONS[0]
    assert all(answers.get("python_version", lowest) == lowest for answers in RENDERS.values())


@pytest.mark.parametrize("python_version", list(NEWER_PYTHON_RENDERS))
def test_newer_python_render_passes_static_checks(
    copie_session: Copie, tool_env: dict[str, str], python_version: str
) -> None:
    """Static checks only: ruff and mypy take the target from the rendered pyproject.toml, so this
    interpreter serves, and no Python of that version is needed."""
    answers = {**RENDERS[NEWER_PYTHON_RENDERS[python_version]], "python_version": python_version}
    result = copie_session.copy(extra_answers=answers, template_dir=REPO_ROOT, vcs_ref="HEAD")
    if result.exception is not None or result.project_dir is None:
        pytest.fail(f"rendering at {python_version} failed: {result.exception!r}")
    pyproject = tomllib.loads((result.project_dir / "pyproject.toml").read_text())
    assert pyproject["tool"]["mypy"]["python_version"] == python_version
    for check in STATIC_CHECKS.values():
        require_success(run(python_module(*check), cwd=result.project_dir, env=tool_env))


# Each render's suite on each database, but where it would repeat another suite (CI time). The
# defaults run whole on both. The other renders run what their answers shape: their resources'
# tests and the OpenAPI document's; and, where their token library, algorithm or encrypted fields
# differ from the defaults (all-field-types: PyJWT with ES256 keys; postgresql: RS256 keys), the
# token, security, configuration and encryption tests too. The postgresql render, whose
# database URL is PostgreSQL, runs on PostgreSQL only.
SUITES = [
    (name, backend)
    for name in RENDERS
    for backend in ("sqlite", "postgresql")
    if (name, backend) != ("postgresql", "sqlite")
]
KEYS_AND_TOKENS = [
    "tests/auth",
    "tests/security",
    "tests/test_config.py",
    "tests/test_encryption.py",
]


def shaped_by_answers(name: str, *, keys: bool) -> list[str]:
    resources = sorted(f"tests/{resource}" for resource in RENDERS[name]["resources"])
    return ["tests/test_openapi.py", *(KEYS_AND_TOKENS if keys else []), *resources]


ONLY = {
    ("domain", "sqlite"): shaped_by_answers("domain", keys=False),
    ("domain", "postgresql"): shaped_by_answers("domain", keys=False),
    ("all-field-types", "sqlite"): shaped_by_answers("all-field-types", keys=True),
    ("all-field-types", "postgresql"): shaped_by_answers("all-field-types", keys=False),
    ("postgresql", "postgresql"): [*shaped_by_answers("postgresql", keys=True), "tests/test_db.py"],
}


@pytest.mark.parametrize(("project", "database"), SUITES, indirect=True)
def test_project_suite_passes(
    request: pytest.FixtureRequest,
    project: Path,
    tool_env: dict[str, str],
    database: tuple[str, str],
) -> None:
    backend, url = database
    env = dict(tool_env)
    if backend == "postgresql":
        env["TEST_DATABASE_URL"] = url
    # The suite's rate-limit tests use it; they skip without it, or fail when CI=true.
    if redis_url := os.environ.get("TEST_REDIS_URL"):
        env["TEST_REDIS_URL"] = redis_url
    # pytest-copie is installed here but not in a rendered project's own environment.
    paths = ONLY.get((request.node.callspec.params["project"], backend), [])
    result = run(python_module("pytest", "-q", "-p", "no:copie", *paths), cwd=project, env=env)
    require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)


def table_names(backend: str, url: str) -> set[str]:
    """The tables of the database at ``url``."""
    if backend == "sqlite":
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows}
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}


def test_migrations_upgrade_check_and_downgrade(
    project: Path, tool_env: dict[str, str], database: tuple[str, str]
) -> None:
    backend, url = database
    env = {**tool_env, "DATABASE_URL": url}

    def alembic(*args: str) -> str:
        result = run(python_module("alembic", *args), cwd=project, env=env)
        require_success(result)
        return result.stdout + result.stderr

    alembic("upgrade", "head")
    assert table_names(backend, url) - {"alembic_version"}, "upgrade head created no table"

    output = alembic("check")
    assert "No new upgrade operations detected" in output, output

    alembic("downgrade", "base")
    assert table_names(backend, url) <= {"alembic_version"}, "downgrade base left tables behind"

    # A second upgrade proves the downgrade also removed indexes, types and sequences.
    alembic("upgrade", "head")
