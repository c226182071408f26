"""`copier update` on real template history, as a team whose project has diverged would run it.

Git tags may not reach CI, so ``template_history`` builds the history itself: the work tree as
``v0.1.0``, then ``v0.2.0`` with deliberate changes to template-owned files (a new security header
and the project's own test that expects it, and a column on the users table with the template's
revision that adds it), and to a mail template, which belongs to the project once rendered.
Projects are rendered at ``v0.1.0``, committed, edited and committed again, then updated, exactly
as docs/updating.md tells users to.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import sqlite3
import tomllib
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from copier import VcsRef, run_recopy
from helpers import clean_env, explain, python_module, require_success, run
from projects import (
    alembic,
    commit_all,
    conflict_leftovers,
    copier_cli,
    git,
    migrate_and_check,
    new_project,
    run_suite,
    sqlite_url,
    tag_work_tree,
    tracked_changes,
    update,
)

# The deliberate v0.2.0 changes: (file, the text they follow, the text they add).
NEW_HEADER = '"Permissions-Policy": "camera=(), geolocation=(), microphone=()",'
NEW_COLUMN = "    last_seen_at: datetime | None = None\n"
# A mail template: the project's own (copier.yml's _skip_if_exists), so v0.2.0 must not touch it.
MAIL_TEMPLATE = "app/mail_templates/password_reset/body.txt"
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
    # A template-owned table changes: the model, and a revision the template owns.
    ("template/app/auth/models.py", "    is_active: bool = True\n", NEW_COLUMN),
    (
        "includes/schema.jinja",
        "{%- set TEMPLATE_REVISIONS = ['auth_0002', 'auth_0003'",
        ", 'auth_0004'",
    ),
    (f"template/{MAIL_TEMPLATE}", "{{ link }}\n", "\nA line of the template's v0.2.0.\n"),
)
# The template's revision for NEW_COLUMN, placed after whatever revision a project is at.
NEW_REVISION = (
    "template/migrations/versions/auth_0004.py.jinja",
    '''"""Remember when each user was last seen.

Revision ID: auth_0004
Revises: {{ revision_parents.auth_0004 }}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0004"
down_revision: str | None = "{{ revision_parents.auth_0004 }}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_seen_at")
''',
)
# A resource whose fields every database handles quickly.
SHORT = {"title": "str(80)"}

pytestmark = pytest.mark.usefixtures("git_identity")


@pytest.fixture(scope="module")
def template_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository tagged ``v0.1.0`` (the work tree) and ``v0.2.0`` (real changes)."""
    repo = tag_work_tree(tmp_path_factory.mktemp("template-history"))
    for name, anchor, added in TEMPLATE_CHANGE:
        path = repo / name
        text = path.read_text()
        assert text.count(anchor) == 1, f"{name} changed: pick another anchor for the v0.2.0 change"
        assert added not in text, f"{name} has the v0.2.0 change already: pick another change"
        path.write_text(text.replace(anchor, anchor + added))
    name, text = NEW_REVISION
    (repo / name).write_text(text)
    commit_all(repo, "send Permissions-Policy on every response; remember when users were seen")
    git("tag", "v0.2.0", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    caches = tmp_path_factory.mktemp("update-caches")
    return clean_env(ENVIRONMENT="test", MYPY_CACHE_DIR=str(caches / "mypy"))


# --- 1. An update keeps a team's edits and brings the template's change ----------------------

COUNT_ROUTE = '''

@router.get("/mine/count")
async def count_todos(user: ResourceOwner, connection: ConnectionDep) -> dict[str, int]:
    """How many todos the current user has."""
    page = await service.list_todos(connection=connection, owner=user, query=TodoQuery())
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
MAIL_SIGNATURE = "\n-- \nThe Acme team: help@acme.example\n"


def make_user_edits(project: Path) -> None:
    """A new route in a resource package, a changed setting default, a test, a README section,
    a signature under a mail."""
    with (project / "app/todo/router.py").open("a") as router:
        router.write(COUNT_ROUTE)
    (project / "tests/todo/test_count.py").write_text(COUNT_TEST)
    config = project / "app/core/config.py"
    assert USER_SETTING[0] in config.read_text()
    config.write_text(config.read_text().replace(*USER_SETTING))
    with (project / "README.md").open("a") as readme:
        readme.write(README_SECTION)
    with (project / MAIL_TEMPLATE).open("a") as mail:
        mail.write(MAIL_SIGNATURE)
    commit_all(project, "our own route, test, log level, deployment notes and mail signature")


# The team's one user, in their database since v0.1.0.
USER_ROW = ("5b2c1f0e9a8d4c7b6a5f4e3d2c1b0a99", "ada@example.com", "$argon2id$stub", "admin")


@pytest.fixture(scope="module")
def updated_project(
    template_history: Path, tmp_path_factory: pytest.TempPathFactory, project_env: dict[str, str]
) -> Path:
    """A default project rendered at v0.1.0, migrated, edited by its team, then updated to v0.2.0.

    Its database, `live.db` beside it, holds a user and stays at v0.1.0's schema.
    """
    workdir = tmp_path_factory.mktemp("diverged")
    project = new_project(template_history, workdir / "api", "v0.1.0")
    alembic(project, project_env, sqlite_url(workdir / "live.db"), "upgrade", "head")
    with closing(sqlite3.connect(workdir / "live.db")) as database, database:
        database.execute(
            "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            USER_ROW,
        )
    make_user_edits(project)
    # Outside the project: an untracked file would make Copier refuse the dirty work tree.
    (workdir / "env-before-update").write_bytes((project / ".env").read_bytes())
    copier_cli(project, "--vcs-ref", "v0.2.0")
    return project


def test_update_keeps_edits_and_brings_the_change(updated_project: Path) -> None:
    assert conflict_leftovers(updated_project) == []
    assert COUNT_ROUTE in (updated_project / "app/todo/router.py").read_text()
    assert (updated_project / "tests/todo/test_count.py").read_text() == COUNT_TEST
    assert USER_SETTING[1] in (updated_project / "app/core/config.py").read_text()
    assert (updated_project / "README.md").read_text().endswith(README_SECTION)
    mail = (updated_project / MAIL_TEMPLATE).read_text()
    assert mail.endswith(MAIL_SIGNATURE)
    assert "v0.2.0" not in mail
    assert NEW_HEADER in (updated_project / "app/core/middleware.py").read_text()
    assert NEW_HEADER.lower() in (updated_project / "tests/test_errors.py").read_text()
    assert NEW_COLUMN in (updated_project / "app/auth/models.py").read_text()
    assert "_commit: v0.2.0" in (updated_project / ".copier-answers.yml").read_text()
    # The key and database URL in .env (git-ignored, so not a tracked change) are untouched.
    env_file = (updated_project / ".env").read_bytes()
    assert env_file == (updated_project.parent / "env-before-update").read_bytes()
    # Only the template's changes and the answers file moved; the team's files, and every
    # revision the project had, are as they were. The template's revision is a new file.
    changed = {line[3:] for line in tracked_changes(updated_project).splitlines()}
    assert changed == {
        ".copier-answers.yml",
        "app/auth/models.py",
        "app/core/middleware.py",
        "migrations/versions/auth_0004.py",
        "tests/test_errors.py",
    }
    # `git diff`, as the docs say to read the update, shows the template's new line.
    assert f"+    {NEW_HEADER}\n" in git("diff", cwd=updated_project)


def test_the_templates_revision_follows_the_projects_head(updated_project: Path) -> None:
    """The template's new revision goes after the revisions the project had, not before them."""
    revision = (updated_project / "migrations/versions/auth_0004.py").read_text()
    assert 'down_revision: str | None = "auth_0003"' in revision
    assert "- auth_0004\n" in (updated_project / ".copier-answers.yml").read_text()


def test_updated_project_passes_its_suite_and_migrates(
    updated_project: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    run_suite(updated_project, project_env)
    migrate_and_check(updated_project, project_env, sqlite_url(tmp_path / "app.db"))
    # The team's database reaches the new schema and keeps its user.
    live = updated_project.parent / "live.db"
    migrate_and_check(updated_project, project_env, sqlite_url(live))
    with closing(sqlite3.connect(live)) as database:
        users = database.execute("SELECT id, email, password_hash, role FROM users").fetchall()
        seen = database.execute("SELECT last_seen_at FROM users").fetchall()
    assert (users, seen) == ([USER_ROW], [(None,)])


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
    "tests/{name}/__init__.py",
    "tests/{name}/test_router.py",
)


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


def down_revision(project: Path, revision: str) -> str:
    text = (project / f"migrations/versions/{revision}.py").read_text()
    found = re.search(r'^down_revision: str \| None = "(\w+)"$', text, re.MULTILINE)
    assert found, text
    return found.group(1)


def heads(project: Path, env: dict[str, str], url: str) -> set[str]:
    """What `alembic heads` lists."""
    return set(alembic(project, env, url, "heads").split("\n")) - {""}


def test_answers_change_during_updates(
    template_history: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    project = new_project(template_history, tmp_path / "api", "v0.1.0", resources=TWO)
    live = sqlite_url(tmp_path / "live.db")  # the team's database, migrated at every step
    # The team's own revision (e.g. a data migration) sits on top of the rendered chain.
    alembic(project, project_env, live, "revision", "--rev-id", "seed_data", "-m", "seed data")
    alembic(project, project_env, live, "upgrade", "head")
    add_own_package(project)
    commit_all(project, "a data migration and a reports package of our own")
    ours = (project / "app/extensions.py").read_text()
    shipped = {path: path.read_bytes() for path in (project / "migrations/versions").glob("*.py")}

    # Add a resource and shorten the access tokens while updating to the new release.
    # As docs/updating.md says: resources in a file outside the project, a number with --data,
    # and no --vcs-ref, which takes the newest release tag.
    changes = tmp_path / "changes.yml"
    changes.write_text(yaml.safe_dump({"resources": {**TWO, "label": SHORT}}))
    said = copier_cli(project, "--data-file", str(changes), "--data", "access_token_minutes=5")
    assert "migrations/versions has resources_0002, auth_0004" in said, said
    assert "_commit: v0.2.0" in (project / ".copier-answers.yml").read_text()
    assert conflict_leftovers(project) == []
    for pattern in RESOURCE_FILES:
        assert (project / pattern.format(name="label")).is_file(), pattern
    # New revisions follow the ones the project had, which stay as they were.
    assert {path: path.read_bytes() for path in shipped} == shipped
    assert (
        'op.create_table(\n        "labels",'
        in (project / "migrations/versions/resources_0002.py").read_text()
    )
    assert down_revision(project, "resources_0002") == "auth_0003"
    assert "default=5, ge=1, le=60" in (project / "app/core/config.py").read_text()
    assert "access_token_minutes: 5" in (project / ".copier-answers.yml").read_text()
    # app/api.py took the new router without a conflict; our registry is as we left it.
    assert "app.label.router.router" in (project / "app/api.py").read_text()
    assert (project / "app/extensions.py").read_text() == ours
    # The team's revision and the template's new ones both follow auth_0003: Alembic needs a
    # merge revision, as docs/updating.md says.
    assert heads(project, project_env, live) == {"seed_data (head)", "auth_0004 (head)"}
    alembic(project, project_env, live, "merge", "heads", "--rev-id", "merge_1", "-m", "merge")
    migrate_and_check(project, project_env, live)
    commit_all(project, "add the label resource, 5-minute access tokens")

    # Remove a resource from the middle of the mapping: a revision drops its table, and every
    # revision before stays, so the team's database and a new one both still migrate.
    update(project, ref=VcsRef.CURRENT, resources={"todo": SHORT, "label": SHORT})
    assert conflict_leftovers(project) == []
    for pattern in RESOURCE_FILES:
        assert not (project / pattern.format(name="note")).exists(), pattern
    assert (project / "migrations/versions/note_0001.py").read_bytes() == shipped[
        project / "migrations/versions/note_0001.py"
    ]
    assert down_revision(project, "resources_0003") == "auth_0004"
    dropping = (project / "migrations/versions/resources_0003.py").read_text()
    assert 'op.drop_table("notes")' in dropping
    assert heads(project, project_env, live) == {"merge_1 (head)", "resources_0003 (head)"}
    alembic(project, project_env, live, "merge", "heads", "--rev-id", "merge_2", "-m", "merge")
    migrate_and_check(project, project_env, live)
    migrate_and_check(project, project_env, sqlite_url(tmp_path / "new.db"))
    # The new resource's tests pass, and the app boots without the removed one; the whole
    # suite of an updated project already runs in test_updated_project_passes_its_suite.
    run_suite(project, project_env, "tests/label", "tests/reports", "tests/test_health.py")


def test_recopy_with_overwrite_reverts_edits_to_template_files(
    template_history: Path, tmp_path: Path
) -> None:
    """docs/updating.md's warning: recopy --overwrite writes template files back as the
    template has them, without a conflict; the user's own files stay, and `git diff` shows what
    to take back."""
    project = new_project(template_history, tmp_path / "api", "v0.1.0")
    make_user_edits(project)
    run_recopy(project, vcs_ref="v0.1.0", defaults=True, overwrite=True, unsafe=False, quiet=True)
    assert conflict_leftovers(project) == []
    assert COUNT_ROUTE not in (project / "app/todo/router.py").read_text()
    assert USER_SETTING[0] in (project / "app/core/config.py").read_text()
    assert (project / "tests/todo/test_count.py").read_text() == COUNT_TEST
    assert '-@router.get("/mine/count")' in git("diff", cwd=project)


def test_switching_the_jwt_algorithm_leaves_env_alone(
    template_history: Path, tmp_path: Path
) -> None:
    """docs/updating.md: a move to a key pair keeps the now unused SECRET_KEY in .env, and
    writes no JWT_PRIVATE_KEY there."""
    project = new_project(template_history, tmp_path / "api", "v0.1.0")
    env_file = (project / ".env").read_text()
    assert "\nSECRET_KEY=" in env_file
    update(project, ref=VcsRef.CURRENT, jwt_algorithm="RS256")
    assert conflict_leftovers(project) == []
    assert (project / "app/core/keys.py").is_file()
    assert 'ALGORITHM = "RS256"' in (project / "app/core/keys.py").read_text()
    assert (project / ".env").read_text() == env_file
    assert "JWT_PRIVATE_KEY" not in env_file


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


def test_removing_the_last_resource_keeps_the_chain(
    template_history: Path, project_env: dict[str, str], tmp_path: Path
) -> None:
    """The revision that created the removed resource's table stays, so a database at it, or
    past it, migrates on; a revision drops the table, and its downgrade brings it back empty."""
    project = new_project(
        template_history, tmp_path / "api", "v0.2.0", resources={"todo": SHORT, "note": SHORT}
    )
    live = sqlite_url(tmp_path / "live.db")
    alembic(project, project_env, live, "upgrade", "note_0001")
    update(project, resources={"todo": SHORT})
    assert (project / "migrations/versions/note_0001.py").is_file()
    migrate_and_check(project, project_env, live)
    alembic(project, project_env, live, "downgrade", "-1")
    with closing(sqlite3.connect(tmp_path / "live.db")) as database:
        notes = database.execute("SELECT count(*) FROM notes").fetchone()
    assert notes == (0,)


# --- 5. Dependencies a user adds with `uv add` and dependencies a release adds -----------------

# The release's new dependency, in its place in the sorted list.
NEW_DEPENDENCY = ('    "limits>=5.0",\n', '    "orjson>=3.10",\n')


@pytest.fixture(scope="module")
def dependency_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The work tree as ``v0.1.0``; ``v0.2.0`` adds a dependency to the rendered project."""
    repo = tag_work_tree(tmp_path_factory.mktemp("dependency-history"))
    pyproject = repo / "template/pyproject.toml.jinja"
    anchor, added = NEW_DEPENDENCY
    assert pyproject.read_text().count(anchor) == 1, "pick another anchor for the new dependency"
    pyproject.write_text(pyproject.read_text().replace(anchor, anchor + added))
    commit_all(repo, "depend on orjson")
    git("tag", "v0.2.0", cwd=repo)
    return repo


def uv_add(project: Path, package: str) -> None:
    """`uv add PACKAGE` as a user runs it, less the install: the list and uv.lock change."""
    env = clean_env(UV_PYTHON_DOWNLOADS="never")
    require_success(run(python_module("uv", "add", "--no-sync", package), cwd=project, env=env))
    commit_all(project, f"depend on {package}")


def test_uv_add_and_an_update_that_adds_dependencies_merge(
    dependency_history: Path, tmp_path: Path
) -> None:
    project = new_project(dependency_history, tmp_path / "api", "v0.1.0")
    uv_add(project, "humanize")

    copier_cli(project, "--vcs-ref", "v0.2.0")
    assert conflict_leftovers(project) == []
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=\[]", line)[0] for line in dependencies["dependencies"]]
    assert {"humanize", "orjson"} <= set(names), names
    assert names == sorted(names), "the list is no longer sorted: the next `uv add` appends"
    # The stale lock takes the template's dependency as `uv sync` would, without a parse error.
    locked = run(
        python_module("uv", "lock"), cwd=project, env=clean_env(UV_PYTHON_DOWNLOADS="never")
    )
    require_success(locked)
    assert 'name = "orjson"' in (project / "uv.lock").read_text()


def test_a_dependency_conflict_is_named_after_the_update(
    dependency_history: Path, tmp_path: Path
) -> None:
    """A package whose name neighbours the release's new one: Copier's message, and the check
    the rendered CI runs first, name the file to fix."""
    project = new_project(dependency_history, tmp_path / "api", "v0.1.0")
    uv_add(project, "more-itertools")  # sorts between limits and orjson

    said = copier_cli(project, "--vcs-ref", "v0.2.0")
    assert conflict_leftovers(project) == ["pyproject.toml: conflict marker"]
    listing = "git grep -lE '^(<<<<<<<|>>>>>>>)( |$)'"
    assert f"\n  {listing}\n" in said, said
    listed = run(["bash", "-c", listing], cwd=project, env=clean_env())
    assert listed.stdout == "pyproject.toml\n", explain(listed)
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    check = workflow["jobs"]["checks"]["steps"][1]["run"]
    refused = run(["bash", "-c", check], cwd=project, env=clean_env())
    assert refused.returncode != 0, explain(refused)
    assert refused.stdout.startswith("pyproject.toml:"), explain(refused)
