"""Template releases in a temporary repository, and projects a team renders, updates and migrates.

Git tags may not reach CI, so each test module that needs releases tags a repository of its own:
``tag_work_tree`` makes the work tree its first release. Projects are rendered, committed and
updated as docs/updating.md tells users to.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from copier import VcsRef, run_copy, run_update
from helpers import REPO_ROOT, explain, python_module, require_success, run

# What Copier reads from the template repository.
TEMPLATE_PARTS = ("copier.yml", "includes", "template")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}
# The lines Copier writes around a conflict with `conflict="inline"`, and git's own.
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.MULTILINE)
# `alembic upgrade head && alembic check` in one interpreter: the app is imported once, not twice.
UPGRADE_AND_CHECK = "from alembic.config import main; main(['upgrade', 'head']); main(['check'])"


@contextmanager
def git_identity(home: Path) -> Iterator[None]:
    """A git identity (CI may have none; Copier's own update commits need one too), and no
    global or system git config, whose signing or hooksPath settings would change the tests."""
    empty_config = home / "gitconfig"
    empty_config.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        patch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


def git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` and return what it printed; fail the test if it fails."""
    result = run(["git", *args], cwd=cwd, env=os.environ)
    require_success(result)
    return result.stdout


def commit_all(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--no-verify", "--allow-empty", "--message", message, cwd=project)


def tag_work_tree(repo: Path, tag: str = "v0.1.0") -> Path:
    """A git repository in ``repo``: one commit, tagged ``tag``, of the work tree's template."""
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
    git("tag", tag, cwd=repo)
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


def copier_cli(project: Path, *args: str) -> str:
    """`copier update --defaults --conflict inline ARGS` in ``project``, as the docs show; what
    Copier printed."""
    command = python_module("copier", "update", "--defaults", "--conflict", "inline", *args)
    result = run(command, cwd=project, env=os.environ)
    require_success(result)
    return result.stdout + result.stderr


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


def run_suite(project: Path, env: Mapping[str, str], *paths: str) -> None:
    """The project's own pytest (on ``paths`` only, if given)."""
    command = python_module("pytest", "-q", "-x", "-p", "no:copie", *paths)
    result = run(command, cwd=project, env=env)
    require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)


def alembic(project: Path, env: Mapping[str, str], url: str, *args: str) -> str:
    """Run Alembic in ``project`` on the database at ``url``; fail unless it exits 0."""
    result = run(python_module("alembic", *args), cwd=project, env={**env, "DATABASE_URL": url})
    require_success(result)
    return result.stdout + result.stderr


def migrate_and_check(project: Path, env: Mapping[str, str], url: str) -> None:
    """`alembic upgrade head && alembic check` on the database at ``url``."""
    command = [sys.executable, "-c", UPGRADE_AND_CHECK]
    result = run(command, cwd=project, env={**env, "DATABASE_URL": url})
    require_success(result)
    assert "No new upgrade operations detected" in result.stdout + result.stderr, explain(result)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
