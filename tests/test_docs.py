"""The documentation site builds cleanly, and a render carries its README, CI and editor files."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO_ROOT, clean_env, python_module, require_success, run, shell_commands

# What the rendered workflow must run: the README's checks, both databases, migrations, audit.
WORKFLOW_COMMANDS = [
    "! git grep -nE '^(<<<<<<<|>>>>>>>)( |$)'",
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

# The pages this file vouches for: the README and every page of the site.
CHECKED_PAGES = [
    Path("README.md"),
    *sorted(page.relative_to(REPO_ROOT) for page in (REPO_ROOT / "docs").glob("*.md")),
]
BENCH = 'python_module("bench.run", *QUICK'

# docs/updating.md's file of new answers, which test_documented_answers_file_renders writes.
CHANGES_FILE = """cat > ../changes.yml <<'EOF'
resources:
  todo:
    title: str(200)
    notes: text?
    done: bool = false
    due: date?
    priority: int = 3
  label:
    name: str(80)
EOF"""
COPIER_UPDATE = 'python_module("copier", "update", "--defaults", "--conflict", "inline"'
# Each command the checked pages show, and (the test file that runs it, the code that does).
TESTED_COMMANDS = {
    # Word for word in bash, from a clone of this repository, until the API answers on :8000,
    # on a stand-in for a fresh Debian 12; then the commit, and the template's tests started.
    'python3 scripts/install_uv.py && export PATH="$HOME/.local/bin:$PATH" && uvx copier copy'
    ' --defaults --vcs-ref HEAD "$PWD" ../my-api && cd ../my-api && uv run alembic upgrade head'
    " && uv run fastapi dev": ("tests/test_fresh_install.py", "served_by(QUICK_START"),
    'git init && git add --all && git commit -m "Render secure-fastapi-template"': (
        "tests/test_fresh_install.py",
        'run(["bash", "-c", COMMIT_PROJECT]',
    ),
    'python3 scripts/install_uv.py && export PATH="$HOME/.local/bin:$PATH" && uv run pytest': (
        ".ci/run",
        'python3 scripts/install_uv.py\nexport PATH="$HOME/.local/bin:$PATH"',
    ),
    # The rendered README's, as it prints them, in the project the quick start made.
    "uv sync": ("tests/test_fresh_install.py", 'first_steps == ["uv sync", "uv run pytest"]'),
    "uv run pytest": ("tests/test_fresh_install.py", 'first_steps == ["uv sync", "uv run pytest"]'),
    "uv run alembic upgrade head && uv run alembic check": (
        "tests/test_render.py",
        'alembic("check")',
    ),
    **{
        command: ("tests/test_docs.py", "KEY_PAIR_COMMANDS")
        for commands in KEY_PAIR_COMMANDS.values()
        for command in commands
    },
    # docs/updating.md, in the order a team runs it. `uvx copier` is the locked Copier there.
    "git status": ("tests/projects.py", '"status", "--porcelain"'),
    "uvx copier update --defaults --conflict inline": ("tests/projects.py", COPIER_UPDATE),
    "uvx copier update --defaults --conflict inline --vcs-ref v0.2.0": (
        "tests/test_update.py",
        'copier_cli(project, "--vcs-ref", "v0.2.0")',
    ),
    "git status && git diff": ("tests/test_update.py", 'git("diff", cwd=updated_project)'),
    'git add --all && git commit -m "Update to template v0.2.0"': (
        "tests/test_update.py",
        'git("add", "--all", cwd=project)',
    ),
    "git grep -nE '^(<<<<<<<|>>>>>>>)( |$)'": (
        "tests/test_update.py",
        '"grep", "-nE", "^(<<<<<<<|>>>>>>>)( |$)"',
    ),
    "uv run pre-commit install": ("tests/test_update.py", 'python_module("pre_commit", "install")'),
    "git reset --hard HEAD": ("tests/test_update.py", '"reset", "--hard", "--quiet", "HEAD"'),
    "git clean -fd": ("tests/test_update.py", '"clean", "-d", "--force"'),
    "uvx copier update --defaults --conflict inline --data access_token_minutes=5": (
        "tests/test_update.py",
        '"--data", "access_token_minutes=5"',
    ),
    CHANGES_FILE: ("tests/test_docs.py", "CHANGES_FILE"),
    "uvx copier update --defaults --conflict inline --data-file ../changes.yml": (
        "tests/test_update.py",
        'copier_cli(project, "--data-file"',
    ),
    # docs/performance.md: the benchmark, briefly, on SQLite and on PostgreSQL with an RS256 key.
    "apt-get install wrk": (".ci/run", "Dpkg::Use-Pty=0 wrk"),
    "uv run python bench/run.py": ("tests/test_bench.py", BENCH),
    "uv run python bench/run.py --sqlite": ("tests/test_bench.py", '["--sqlite"]'),
    # Briefly: 300 rows rather than 100000.
    "uv run python bench/run.py --filtered-rows 100000": (
        "tests/test_bench.py",
        '"--filtered-rows",',
    ),
    "uv run python bench/run.py --data jwt_algorithm=RS256": (
        "tests/test_bench.py",
        '"--data", "jwt_algorithm=RS256"',
    ),
    "uv run alembic heads": ("tests/test_update.py", 'alembic(project, env, url, "heads")'),
    'uv run alembic merge heads -m "merge"': ("tests/test_update.py", '"merge", "heads"'),
    # docs/updating.md's "Changing your resources", step by step on a database with rows.
    'git add --all && git commit -m "Labels, and todos by priority"': (
        "tests/test_schema_changes.py",
        "commit_all(project, step.name)",
    ),
    "uv run alembic downgrade -1": ("tests/test_schema_changes.py", '"downgrade", "-1"'),
    'uv run alembic revision --autogenerate -m "add a colour to todos"': (
        "tests/test_schema_changes.py",
        '"revision", "--autogenerate"',
    ),
}


def test_every_command_in_the_docs_is_tested() -> None:
    for page in CHECKED_PAGES:
        for command in shell_commands((REPO_ROOT / page).read_text()):
            assert command in TESTED_COMMANDS, f"{page}: no test runs `{command}`"
    for command, (test_file, evidence) in TESTED_COMMANDS.items():
        assert evidence in (REPO_ROOT / test_file).read_text(), f"{test_file} lost `{command}`"


def test_documented_answers_file_renders(
    copy_template: Callable[[dict[str, Any]], Path], tmp_path: Path
) -> None:
    """docs/updating.md's here-document writes answers that Copier takes, with both resources."""
    project = tmp_path / "api"
    project.mkdir()
    require_success(run(["bash", "-euc", CHANGES_FILE], cwd=project, env=clean_env()))

    answers = yaml.safe_load((tmp_path / "changes.yml").read_text())
    rendered = copy_template(answers)

    assert (rendered / "app/todo/router.py").is_file()
    assert (rendered / "app/label/router.py").is_file()


# docs/updating.md: resources in --data must quote each spec, as YAML's flow style reads `?`.
FLOW_STYLE = {
    "quoted": 'resources={todo: {title: "str(200)", notes: "text?"}}',
    "bare": "resources={todo: {title: str(200), notes: text?}}",
}


def test_flow_style_resources_work_with_quoted_specs(tmp_path: Path) -> None:
    """The form docs/updating.md gives renders; the bare one it warns about fails."""
    copy = python_module("copier", "copy", "--defaults", "--vcs-ref", "HEAD", "--data")
    env = clean_env()
    quoted = run(
        [*copy, FLOW_STYLE["quoted"], REPO_ROOT, tmp_path / "quoted"], cwd=tmp_path, env=env
    )
    bare = run([*copy, FLOW_STYLE["bare"], REPO_ROOT, tmp_path / "bare"], cwd=tmp_path, env=env)

    require_success(quoted)
    assert "notes: str | None" in (tmp_path / "quoted/app/todo/models.py").read_text()
    assert bare.returncode != 0
    assert (
        FLOW_STYLE["quoted"].removeprefix("resources=")
        in (REPO_ROOT / "docs/updating.md").read_text()
    )


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
        ENVIRONMENT="production",
        MAIL_ENABLED="false",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
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

    # The lowest Python the project supports; no `.python-version` pins one on the developers.
    assert not (project / ".python-version").exists()
    requires = tomllib.loads((project / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert workflow(project)["env"]["UV_PYTHON"] == requires.removeprefix(">=")


def test_render_has_a_changelog_that_updates_leave_alone(render: Callable[[str], Path]) -> None:
    changelog = (render("defaults") / "CHANGELOG.md").read_text()
    copier_settings = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())

    assert "## [Unreleased]" in changelog
    assert "CHANGELOG.md" in copier_settings["_skip_if_exists"]


def test_render_has_an_editorconfig(render: Callable[[str], Path]) -> None:
    editorconfig = (render("defaults") / ".editorconfig").read_text()

    assert "root = true" in editorconfig
    assert "end_of_line = lf" in editorconfig
