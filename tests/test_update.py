"""`copier update` on real template history, as a team whose project has diverged would run it.

Git tags may not reach CI, so ``template_history`` builds the history itself: the work tree as
``v0.1.0``, then ``v0.2.0`` with one deliberate change to template-owned files (a new security
header, and the project's own test that expects it). Projects are rendered at ``v0.1.0``, committed,
edited and committed again, then updated, exactly as docs/updating.md tells users to.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import VcsRef, run_copy, run_recopy, run_update
from helpers import REPO_ROOT, clean_env, explain, python_module, require_success, run

# What Copier reads from the template repository.
TEMPLATE_PARTS = ("copier.yml", "includes", "template")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}
# The deliberate v0.2.0 change: (file, the line it follows, the line it adds).
NEW_HEADER = '"Permissions-Policy": "camera=(), geolocation=(), microphone=()",'
TEMPLATE_CHANGE = (
    (
        "template/app/core/middleware.py",
        '    "Cache-Control": "no-store",\n',
        f"    {NEW_HEADER}\n",
    ),
    (
        "template/tests/test_errors.py",
        '    "cache-control": "no-store",\n',
        f"    {NEW_HEADER.lower()}\n",
    ),
)
# The lines Copier writes around a conflict with `conflict="inline"`, and git's own.
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.MULTILINE)
# A resource whose fields every database handles quickly.
SHORT = {"title": "str(80)"}


def git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` and return what it printed; fail the test if it fails."""
    result = run(["git", *args], cwd=cwd, env=os.environ)
    require_success(result)
    return result.stdout


def commit_all(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--no-verify", "--allow-empty", "--message", message, cwd=project)


@pytest.fixture(scope="module", autouse=True)
def git_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A git identity (CI may have none; Copier's own update commits need one too), and no
    global or system git config, whose signing or hooksPath settings would change the tests."""
    empty_config = tmp_path_factory.mktemp("git-config") / "gitconfig"
    empty_config.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        patch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


@pytest.fixture(scope="module")
def template_history(tmp_path_factory: pytest.TempPathFactory, git_identity: None) -> Path:
    """A template repository tagged ``v0.1.0`` (the work tree) and ``v0.2.0`` (one real change)."""
    repo = tmp_path_factory.mktemp("template-history")
    listed = git(
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "--",
        *TEMPLATE_PARTS,
        cwd=REPO_ROOT,
    )
    for name in listed.splitlines():
        source = REPO_ROOT / name
        if source.is_file():  # a file deleted but not yet committed is listed too
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git("init", "--quiet", "--initial-branch", "main", cwd=repo)
    commit_all(repo, "the template as in the work tree")
    git("tag", "v0.1.0", cwd=repo)
    for name, anchor, added in TEMPLATE_CHANGE:
        path = repo / name
        text = path.read_text()
        assert text.count(anchor) == 1, f"{name} changed: pick another anchor for the v0.2.0 change"
        assert added not in text, f"{name} has the v0.2.0 change already: pick another change"
        path.write_text(text.replace(anchor, anchor + added))
    commit_all(repo, "send Permissions-Policy on every response")
    git("tag", "v0.2.0", cwd=repo)
    return repo


def new_project(template: Path, destination: Path, ref: str, **answers: Any) -> Path:
    """Render ``template`` at ``ref`` into a fresh git repository with one commit."""
    run_copy(
        str(template),
        destination,
        vcs_ref=ref,
        data=answers,
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    git("init", "--quiet", "--initial-branch", "main", cwd=destination)
    commit_all(destination, f"render the template at {ref}")
    return destination


def update(project: Path, ref: str | VcsRef = "v0.2.0", **answers: Any) -> None:
    """`copier update --defaults --conflict inline --vcs-ref REF [--data ...]`."""
    run_update(
        project,
        vcs_ref=ref,
        data=answers,
        defaults=True,
        overwrite=True,
        unsafe=False,
        conflict="inline",
        quiet=True,
    )


def copier_cli(project: Path, *args: str) -> None:
    """`copier update --defaults --conflict inline ARGS` in ``project``, as the docs show."""
    command = python_module("copier", "update", "--defaults", "--conflict", "inline", *args)
    require_success(run(command, cwd=project, env=os.environ))


def tracked_changes(project: Path) -> str:
    return git("status", "--porcelain", "--untracked-files=all", cwd=project)


def conflict_leftovers(project: Path) -> list[str]:
    """Files holding conflict markers, and `.rej` files, anywhere in ``project``."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.relative_to(project).parts or not path.is_file():
            continue
        if path.suffix == ".rej":
            found.append(f"{path.relative_to(project)}: rejected hunk")
        elif CONFLICT_MARKER.search(path.read_text(errors="replace")):
            found.append(f"{path.relative_to(project)}: conflict marker")
    return found


@pytest.fixture(scope="module")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    caches = tmp_path_factory.mktemp("update-caches")
    return clean_env(ENVIRONMENT="test", MYPY_CACHE_DIR=str(caches / "mypy"))


def run_suite(project: Path, env: dict[str, str], *paths: str) -> None:
    """The project's own pytest (on ``paths`` only, if given)."""
    command = python_module("pytest", "-q", "-x", "-p", "no:copie", *paths)
    result = run(command, cwd=project, env=env)
    require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)


def alembic(project: Path, env: dict[str, str], database: Path, *args: str) -> str:
    """Run Alembic in ``project`` on the SQLite file ``database``; fail unless it exits 0."""
    result = run(
        python_module("alembic", *args),
        cwd=project,
        env={**env, "DATABASE_URL": f"sqlite:///{database}"},
    )
    require_success(result)
    return result.stdout + result.stderr


# `alembic upgrade head && alembic check` in one interpreter: the app is imported once, not twice.
UPGRADE_AND_CHECK = "from alembic.config import main; main(['upgrade', 'head']); main(['check'])"


def migrate_and_check(project: Path, env: dict[str, str], database: Path) -> None:
    result = run(
        [sys.executable, "-c", UPGRADE_AND_CHECK],
        cwd=project,
        env={**env, "DATABASE_URL": f"sqlite:///{database}"},
    )
    require_success(result)
    assert "No new upgrade operations detected" in result.stdout + result.stderr, explain(result)


# --- 1. An update keeps a team's edits and brings the template's change ----------------------

COUNT_ROUTE = '''

@router.get("/mine/count")
async def count_todos(session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """How many todos the current user has."""
    page = await service.list_todos(session=session, owner=user, query=TodoQuery())
    return {"count": page.total}
'''
COUNT_TEST = '''"""Our own route: the count of the current user's todos."""

import httpx

from tests.helpers import Account


async def test_count_sees_only_own_todos(
    client: httpx.AsyncClient, user: Account, other_user: Account
) -> None:
    r = await client.post("/api/v1/todos", json={"title": "Mine"}, headers=user.headers)
    assert r.status_code == 201, r.text

    r = await client.get("/api/v1/todos/mine/count", headers=other_user.headers)

    assert r.status_code == 200, r.text
    assert r.json() == {"count": 0}
'''
USER_SETTING = (
    'log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"',
    'log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"',
)
README_SECTION = "\n## Deployment\n\nOur service runs on the team's cluster; ask #platform.\n"


def make_user_edits(project: Path) -> None:
    """A new route in a resource package, a changed setting default, a test, a README section."""
    with (project / "app/todo/router.py").open("a") as router:
        router.write(COUNT_ROUTE)
    (project / "tests/todo/test_count.py").write_text(COUNT_TEST)
    config = project / "app/core/config.py"
    assert USER_SETTING[0] in config.read_text()
    config.write_text(config.read_text().replace(*USER_SETTING))
    with (project / "README.md").open("a") as readme:
        readme.write(README_SECTION)
    commit_all(project, "our own route, test, log level and deployment notes")


@pytest.fixture(scope="module")
def updated_project(template_history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default project rendered at v0.1.0, edited by its team, then updated to v0.2.0."""
    project = new_project(template_history, tmp_path_factory.mktemp("diverged") / "api", "v0.1.0")
    make_user_edits(project)
    # Outside the project: an untracked file would make Copier refuse the dirty work tree.
    (project.parent / "env-before-update").write_bytes((project / ".env").read_bytes())
    copier_cli(project, "--vcs-ref", "v0.2.0")
    return project


def test_update_keeps_edits_and_brings_the_change(updated_project: Path) -> None:
    assert conflict_leftovers(updated_project) == []
    assert COUNT_ROUTE in (updated_project / "app/todo/router.py").read_text()
    assert (updated_project / "tests/todo/test_count.py").read_text() == COUNT_TEST
    assert USER_SETTING[1] in (updated_project / "app/core/config.py").read_text()
    assert (updated_project / "README.md").read_text().endswith(README_SECTION)
    assert NEW_HEADER in (updated_project / "app/core/middleware.py").read_text()
    assert NEW_HEADER.lower() in (updated_project / "tests/test_errors.py").read_text()
    assert "_commit: v0.2.0" in (updated_project / ".copier-answers.yml").read_text()
    # The key and database URL in .env (git-ignored, so not a tracked change) are untouched.
    env_file = (updated_project / ".env").read_bytes()
    assert env_file == (updated_project.parent / "env-before-update").read_bytes()
    # Only the template's change and the answers file moved; the team's files are as they were.
    changed = {line[3:] for line in tracked_changes(updated_project).splitlines()}
    assert changed == {".copier-answers.yml", "app/core/middleware.py", "tests/test_errors.py"}
    # `git diff`, as the docs say to read the update, shows the template's new line.
    assert f"+    {NEW_HEADER}\n" in git("diff", cwd=updated_project)


def test_updated_project_passes_its_suite_and_migrates(
    updated_project: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    run_suite(updated_project, project_env)
    migrate_and_check(updated_project, project_env, tmp_path / "app.db")


# --- 3. Updates and recopies that have nothing to bring leave no diff ------------------------


def test_updating_again_leaves_no_diff(updated_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "again"
    shutil.copytree(updated_project, project, symlinks=True)
    commit_all(project, "update to v0.2.0")
    update(project)
    assert tracked_changes(project) == ""
    # What a user types to re-apply the release the project is on.
    copier_cli(project, "--vcs-ref=:current:")
    assert tracked_changes(project) == ""


def test_recopy_of_a_fresh_project_leaves_no_diff(template_history: Path, tmp_path: Path) -> None:
    project = new_project(template_history, tmp_path / "fresh", "HEAD")
    run_recopy(project, defaults=True, overwrite=True, unsafe=False, quiet=True)
    assert tracked_changes(project) == ""


def test_nothing_random_lands_in_tracked_files(template_history: Path, tmp_path: Path) -> None:
    first = new_project(template_history, tmp_path / "first", "HEAD")
    second = new_project(template_history, tmp_path / "second", "HEAD")
    tracked = git("ls-files", cwd=first).splitlines()
    assert tracked == git("ls-files", cwd=second).splitlines()
    _, mismatch, errors = filecmp.cmpfiles(first, second, tracked, shallow=False)
    assert (mismatch, errors) == ([], [])
    # The one random value, the signing key, lives in .env: ignored by git, kept by updates.
    assert (first / ".env").read_text() != (second / ".env").read_text()
    assert git("check-ignore", ".env", cwd=first).strip() == ".env"


# --- 2. Changing answers during an update ----------------------------------------------------

TWO = {"todo": SHORT, "note": SHORT}
RESOURCE_FILES = (
    "app/{name}/__init__.py",
    "app/{name}/models.py",
    "app/{name}/router.py",
    "app/{name}/service.py",
    "migrations/versions/{name}_0001.py",
    "tests/{name}/__init__.py",
    "tests/{name}/test_router.py",
)
# The revision docs/updating.md tells users to add after removing a resource with a table.
DROP_NOTES = '''"""Drop the notes table: the note resource was removed from the answers.

Revision ID: drop_notes
Revises: {down_revision}
"""

from collections.abc import Sequence

from alembic import op

revision: str = "drop_notes"
down_revision: str | None = "{down_revision}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF EXISTS: a database created after the removal never had the table.
    op.drop_table("notes", if_exists=True)


def downgrade() -> None:
    pass
'''


# A package of the team's own, not a resource, registered in the user-owned app/extensions.py.
REPORTS_ROUTER = '''"""Our own package: not a generated resource."""

from fastapi import APIRouter

from app.auth.deps import CurrentUser

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/me")
async def my_report(user: CurrentUser) -> dict[str, str]:
    """Who is asking."""
    return {"email": user.email}
'''
REPORTS_TEST = '''"""Our own package's route."""

import httpx

from tests.helpers import Account


async def test_report_names_the_user(client: httpx.AsyncClient, user: Account) -> None:
    r = await client.get("/api/v1/reports/me", headers=user.headers)

    assert r.status_code == 200, r.text
    assert r.json() == {"email": user.email}
'''


def add_own_package(project: Path) -> None:
    """app/reports with a route and its test, registered where the docs say: app/extensions.py."""
    (project / "app/reports").mkdir()
    (project / "app/reports/__init__.py").write_text("")
    (project / "app/reports/router.py").write_text(REPORTS_ROUTER)
    (project / "tests/reports").mkdir()
    (project / "tests/reports/__init__.py").write_text("")
    (project / "tests/reports/test_router.py").write_text(REPORTS_TEST)
    extensions = project / "app/extensions.py"
    text = extensions.read_text()
    imports, registry = "from fastapi import APIRouter\n", "ROUTERS: list[APIRouter] = []\n"
    assert imports in text, text
    assert registry in text, text
    text = text.replace(imports, imports + "\nfrom app.reports.router import router as reports\n")
    extensions.write_text(text.replace(registry, "ROUTERS: list[APIRouter] = [reports]\n"))


def down_revision(project: Path, name: str) -> str:
    text = (project / f"migrations/versions/{name}_0001.py").read_text()
    found = re.search(r'^down_revision: str \| None = "(\w+)"$', text, re.MULTILINE)
    assert found, text
    return found.group(1)


def test_answers_change_during_updates(
    template_history: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    project = new_project(template_history, tmp_path / "api", "v0.1.0", resources=TWO)
    live = tmp_path / "live.db"  # the team's database, migrated at every step
    # The team's own revision (e.g. a data migration) sits on top of the rendered chain.
    alembic(project, project_env, live, "revision", "--rev-id", "seed_data", "-m", "seed data")
    alembic(project, project_env, live, "upgrade", "head")
    add_own_package(project)
    commit_all(project, "a data migration and a reports package of our own")
    ours = (project / "app/extensions.py").read_text()

    # Add a resource and shorten the access tokens while updating to the new release.
    # As docs/updating.md says: resources in a file outside the project, a number with --data,
    # and no --vcs-ref, which takes the newest release tag.
    changes = tmp_path / "changes.yml"
    # sort_keys=False: the order of the resources is the order of their migration chain.
    changes.write_text(yaml.safe_dump({"resources": {**TWO, "label": SHORT}}, sort_keys=False))
    copier_cli(project, "--data-file", str(changes), "--data", "access_token_minutes=5")
    assert "_commit: v0.2.0" in (project / ".copier-answers.yml").read_text()
    assert conflict_leftovers(project) == []
    for pattern in RESOURCE_FILES:
        assert (project / pattern.format(name="label")).is_file(), pattern
    assert down_revision(project, "label") == "note_0001"
    assert "default=5, ge=1, le=60" in (project / "app/core/config.py").read_text()
    assert "access_token_minutes: 5" in (project / ".copier-answers.yml").read_text()
    # app/api.py took the new router without a conflict; our registry is as we left it.
    assert "app.label.router.router" in (project / "app/api.py").read_text()
    assert (project / "app/extensions.py").read_text() == ours
    # Two revisions now follow note_0001, the team's and label's: Alembic needs a merge revision.
    heads = alembic(project, project_env, live, "heads")
    assert {"seed_data (head)", "label_0001 (head)"} <= set(heads.split("\n")), heads
    alembic(
        project, project_env, live, "merge", "heads", "--rev-id", "merge_label", "-m", "merge label"
    )
    migrate_and_check(project, project_env, live)
    commit_all(project, "add the label resource, 5-minute access tokens")

    # Remove a resource from the middle of the chain.
    update(project, ref=VcsRef.CURRENT, resources={"todo": SHORT, "label": SHORT})
    assert conflict_leftovers(project) == []
    for pattern in RESOURCE_FILES:
        assert not (project / pattern.format(name="note")).exists(), pattern
    assert down_revision(project, "label") == "todo_0001"
    # The team's revision followed note_0001, which is gone: it now follows note's predecessor.
    (seed,) = (project / "migrations/versions").glob("seed_data*.py")
    seed.write_text(seed.read_text().replace("'note_0001'", "'todo_0001'"))  # Alembic's quotes
    # A new database migrates cleanly as it is.
    migrate_and_check(project, project_env, tmp_path / "after-removal.db")
    # The team's database still has the table: `alembic check` says so until a revision drops it.
    result = run(
        python_module("alembic", "check"),
        cwd=project,
        env={**project_env, "DATABASE_URL": f"sqlite:///{live}"},
    )
    assert result.returncode != 0, explain(result)
    assert "Detected removed table 'notes'" in result.stderr, explain(result)
    drop = DROP_NOTES.format(down_revision="merge_label")  # the head
    assert 'op.drop_table("notes", if_exists=True)' in (REPO_ROOT / "docs/updating.md").read_text()
    (project / "migrations/versions/drop_notes.py").write_text(drop)
    migrate_and_check(project, project_env, live)
    migrate_and_check(project, project_env, tmp_path / "after-drop.db")
    # The new resource's tests pass, and the app boots without the removed one; the whole
    # suite of an updated project already runs in test_updated_project_passes_its_suite.
    run_suite(project, project_env, "tests/label", "tests/reports", "tests/test_health.py")


# --- 4. A true conflict is reported and cannot be committed ----------------------------------

OUR_HEADER = '    "X-Served-By": "orders-api",\n'


def test_a_true_conflict_is_refused_by_the_commit_hook(
    template_history: Path, tmp_path: Path
) -> None:
    project = new_project(template_history, tmp_path / "api", "v0.1.0")
    middleware = project / "app/core/middleware.py"
    anchor = '    "Cache-Control": "no-store",\n'
    middleware.write_text(middleware.read_text().replace(anchor, anchor + OUR_HEADER))
    commit_all(project, "our own header, where the template adds one")

    update(project)  # Copier reports the conflict and exits 0
    assert conflict_leftovers(project) == ["app/core/middleware.py: conflict marker"]
    # The docs' way to find them.
    found = git("grep", "-nE", "^(<<<<<<<|>>>>>>>)( |$)", cwd=project)
    assert [line.split(":")[0] for line in found.splitlines()] == ["app/core/middleware.py"] * 2

    hooks_home = tmp_path / "pre-commit-home"
    # Offline: only the conflict hook runs; the others call `uv run`, which would build a venv.
    env = clean_env(
        PRE_COMMIT_HOME=str(hooks_home), SKIP="check-added-large-files,ruff-check,ruff-format,mypy"
    )
    require_success(run(python_module("pre_commit", "install"), cwd=project, env=env))
    git("add", "--all", cwd=project)
    refused = run(["git", "commit", "--message", "update"], cwd=project, env=env)
    assert refused.returncode != 0, explain(refused)
    said = refused.stdout + refused.stderr
    assert "refuse conflict markers" in said, explain(refused)
    assert "app/core/middleware.py:" in said, explain(refused)

    # Aborting the update restores the commit before it; .env, being ignored, stays.
    git("reset", "--hard", "--quiet", "HEAD", cwd=project)
    git("clean", "-d", "--force", "--quiet", cwd=project)
    assert tracked_changes(project) == ""
    assert conflict_leftovers(project) == []
    assert "_commit: v0.1.0" in (project / ".copier-answers.yml").read_text()
    assert (project / ".env").is_file()

    # Updated again, and resolved by keeping both headers (ours above, the template's below),
    # the same commit goes through.
    update(project)
    conflicted = middleware.read_text()
    assert (
        f"<<<<<<< before updating\n{OUR_HEADER}=======\n    {NEW_HEADER}\n>>>>>>> after updating\n"
        in conflicted
    )
    resolved = re.sub(r"^(<<<<<<< .*|=======|>>>>>>> .*)\n", "", conflicted, flags=re.MULTILINE)
    middleware.write_text(resolved)
    git("add", "--all", cwd=project)
    require_success(run(["git", "commit", "--message", "update"], cwd=project, env=env))
    assert tracked_changes(project) == ""


def test_removing_the_last_resource_needs_a_stamp(
    template_history: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    """A database at the removed revision itself no longer matches any file: `stamp --purge`."""
    project = new_project(
        template_history, tmp_path / "api", "v0.2.0", resources={"todo": SHORT, "note": SHORT}
    )
    live = tmp_path / "live.db"
    alembic(project, project_env, live, "upgrade", "head")
    update(project, resources={"todo": SHORT})
    lost = run(
        python_module("alembic", "upgrade", "head"),
        cwd=project,
        env={**project_env, "DATABASE_URL": f"sqlite:///{live}"},
    )
    assert "Can't locate revision identified by 'note_0001'" in lost.stderr, explain(lost)
    alembic(project, project_env, live, "stamp", "--purge", "todo_0001")
    (project / "migrations/versions/drop_notes.py").write_text(
        DROP_NOTES.format(down_revision="todo_0001")
    )
    migrate_and_check(project, project_env, live)
