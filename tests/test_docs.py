"""The documentation site builds cleanly, and a render carries its README, CI and editor files."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO_ROOT, clean_env, python_module, require_success, run

# What the rendered workflow must run: the README's checks, both databases, migrations, audit.
WORKFLOW_COMMANDS = [
    "uv run ruff check .",
    "uv run ruff format --check .",
    "uv run mypy .",
    "uv run pytest",
    "uv run alembic upgrade head && uv run alembic check",
]
AUDIT = "uvx pip-audit --strict --disable-pip --requirement requirements.txt"
# python-jose's `ecdsa` advisory, which does not apply (docs/security.md); PyJWT renders lack it.
ECDSA_ADVISORY = "GHSA-wj6h-64fc-37mp"


# docs/security.md's commands that make a signing key, by the render whose algorithm they serve.
KEY_PAIR_COMMANDS = {
    "postgresql": [
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt-key.pem",
        'export JWT_PRIVATE_KEY="$(cat jwt-key.pem)"',
    ],
    "all-field-types": [
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out jwt-key.pem",
        'export JWT_PRIVATE_KEY="$(cat jwt-key.pem)"',
    ],
}

# The pages this file vouches for, and for each command they show, the test that runs it.
CHECKED_PAGES = [
    "index.md",
    "questions.md",
    "resources.md",
    "architecture.md",
    "security.md",
    "databases.md",
    "deployment.md",
    "testing.md",
    "faq.md",
]
TESTED_COMMANDS = {
    # Rendered from HEAD, migrated and served: the browser test does each step on the defaults.
    "pip install uv && uvx copier copy --defaults --vcs-ref HEAD . ../my-api && cd ../my-api"
    " && uv run alembic upgrade head && uv run fastapi dev": (
        "tests/test_browser.py",
        '"alembic", "upgrade", "head"',
    ),
    "pip install uv && uv run pytest": (".ci/run", "uv run pytest"),
    "uv run pytest": ("tests/test_fresh_install.py", '("uv run pytest", ("run", "pytest"'),
    "uv run alembic upgrade head && uv run alembic check": (
        "tests/test_render.py",
        'alembic("check")',
    ),
    **{
        command: ("tests/test_docs.py", "KEY_PAIR_COMMANDS")
        for commands in KEY_PAIR_COMMANDS.values()
        for command in commands
    },
}
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_commands(markdown: str) -> list[str]:
    """The commands of the ```sh blocks in ``markdown``, without comments."""
    lines = (line for block in SHELL_BLOCK.findall(markdown) for line in block.splitlines())
    return [line.split("  #")[0].strip() for line in lines if line.strip() and line[0] != "#"]


def test_every_command_in_the_docs_is_tested() -> None:
    for page in CHECKED_PAGES:
        for command in shell_commands((REPO_ROOT / "docs" / page).read_text()):
            assert command in TESTED_COMMANDS, f"{page}: no test runs `{command}`"
    for command, (test_file, evidence) in TESTED_COMMANDS.items():
        assert evidence in (REPO_ROOT / test_file).read_text(), f"{test_file} lost `{command}`"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("name", list(KEY_PAIR_COMMANDS))
def test_documented_key_commands_make_a_key_production_takes(
    render: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    """The commands run as docs/security.md shows them; production then starts on the key."""
    project = render(name)
    start = "from app.core.config import Settings; print(Settings().token_keys.kid)"
    script = "\n".join([*KEY_PAIR_COMMANDS[name], f"cd {project}", f"python -c '{start}'"])
    env = clean_env(
        ENVIRONMENT="production", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )

    result = run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env)

    require_success(result)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n", result.stdout), result.stdout


def test_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` fails on a broken link or anchor, or a nav entry with no page."""
    site = tmp_path / "site"
    command = python_module("mkdocs", "build", "--strict", "--site-dir", str(site))
    # Material prints a banner about its successor on every build; the log needs none of it.
    require_success(run(command, cwd=REPO_ROOT, env=clean_env(NO_MKDOCS_2_WARNING="1")))
    assert (site / "index.html").is_file()
    assert (site / "architecture" / "index.html").is_file()


def workflow(project: Path) -> dict[str, Any]:
    text = (project / ".github" / "workflows" / "ci.yml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def run_steps(project: Path) -> list[str]:
    jobs = workflow(project)["jobs"]
    return [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize(
    ("name", "audit"),
    [("defaults", f"{AUDIT} --ignore-vuln {ECDSA_ADVISORY}"), ("all-field-types", AUDIT)],
    ids=["python-jose", "pyjwt"],
)
def test_rendered_workflow_runs_every_check(
    render: Callable[[str], Path], name: str, audit: str
) -> None:
    commands = run_steps(render(name))

    missing = [command for command in [*WORKFLOW_COMMANDS, audit] if command not in commands]
    assert not missing, f"the workflow does not run {missing}"


def test_rendered_workflow_tests_on_both_databases(render: Callable[[str], Path]) -> None:
    jobs = workflow(render("defaults"))["jobs"]
    tests = jobs["tests"]
    assert tests["strategy"]["matrix"]["database"] == ["sqlite", "postgresql"]
    assert set(tests["services"]) == {"postgres", "redis"}
    assert "TEST_DATABASE_URL" in tests["env"]
    assert "TEST_REDIS_URL" in tests["env"]


def test_rendered_workflow_targets_the_projects_python(render: Callable[[str], Path]) -> None:
    project = render("defaults")

    python = (project / ".python-version").read_text().strip()
    assert workflow(project)["env"]["UV_PYTHON"] == python


def test_render_has_a_changelog_that_updates_leave_alone(render: Callable[[str], Path]) -> None:
    changelog = (render("defaults") / "CHANGELOG.md").read_text()
    copier_settings = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())

    assert "## [Unreleased]" in changelog
    assert "CHANGELOG.md" in copier_settings["_skip_if_exists"]


def test_render_has_an_editorconfig(render: Callable[[str], Path]) -> None:
    editorconfig = (render("defaults") / ".editorconfig").read_text()

    assert "root = true" in editorconfig
    assert "end_of_line = lf" in editorconfig
