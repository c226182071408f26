"""A user's first steps, as the docs print them, on a fresh machine: one new virtualenv in all.

The README's quick start runs word for word in bash, from a clone of this repository at HEAD (so
commit first: the clone has no uncommitted change), and must serve the API on port 8000. Then the
commands that Copier printed after the copy, and the rendered README's install and test commands,
run as printed in the project it made. Every other render check borrows this repo's environment;
this one builds the project's own from its ``pyproject.toml`` alone, so a dependency missing from
the rendered list fails here. It needs PyPI (pip installs uv, uvx installs Copier) and port 8000.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from helpers import (
    REPO_ROOT,
    clean_env,
    explain,
    require_success,
    run,
    shell_blocks,
    shell_commands,
    unavailable,
    wait_until_serving,
)

QUICK_START = (
    "pip install uv && uvx copier copy --defaults --vcs-ref HEAD . ../my-api && cd ../my-api"
    " && uv run alembic upgrade head && uv run fastapi dev"
)
# Where `fastapi dev` serves, as the quick start and Copier's message tell users to open it.
BASE_URL = "http://127.0.0.1:8000"
# Copier's message after the copy: the indented commands between "is ready in" and a blank line.
PRINTED_COMMANDS = re.compile(r"is ready in .*\n\n((?:  \S.*\n)+)\n")
# The rendered README's first block starts with the clone that only a user's URL can fill in.
CLONE = "git clone <this repository's URL> my-api && cd my-api"
# The Dockerfile's install step, checked on the lock that the quick start's `uv run` wrote.
IMAGE_INSTALL = "uv sync --locked --no-dev"
SIGN_UP = {"email": "ada@example.com", "password": "correct horse battery staple 42"}


def port_8000_taken() -> bool:
    """Whether something listens there; connections closing (TIME_WAIT) do not count."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("127.0.0.1", 8000))
        except OSError:
            return True
    return False


@contextmanager
def served_by(script: str, *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[None]:
    """Run ``script`` in bash, in a process group of its own, until it serves ``BASE_URL``.

    `fastapi dev` runs a reloader and a server under `uv run` under bash: ending the whole group
    is the one way to stop them all. The shell's output goes to ``log``.
    """
    if port_8000_taken():
        unavailable(f"port 8000 is taken, and `{script}` serves there: free it first")
    with log.open("w") as output:
        shell = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
    try:
        # The first run installs uv, Copier and the project's dependencies before serving.
        wait_until_serving(f"{BASE_URL}/docs", shell, log, timeout=600)
        yield
    finally:
        # The group may be gone already, when the shell failed before serving.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        try:
            shell.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)  # whatever outlived its shell
            # A killed server lets go of its socket a moment after its shell has gone.
            deadline = time.monotonic() + 30
            while port_8000_taken() and time.monotonic() < deadline:
                time.sleep(0.1)


def assert_api_answers() -> None:
    """The migrated database takes a sign-up; the API refuses a missing token as a problem."""
    with httpx.Client(base_url=BASE_URL, timeout=30) as client:
        assert client.get("/health/ready").status_code == 200
        signed_up = client.post("/api/v1/auth/register", json=SIGN_UP)
        assert signed_up.status_code == 201, signed_up.text
        refused = client.get("/api/v1/todos")
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"


def readme_block(readme: str, first_command: str) -> list[str]:
    """The commands of the rendered README's ```sh block that starts with ``first_command``."""
    found = [block for block in shell_blocks(readme) if block[:1] == [first_command]]
    assert len(found) == 1, f"the rendered README has no one block starting `{first_command}`"
    return found[0]


def test_first_steps_work_as_printed(tmp_path: Path) -> None:
    for page in ("README.md", "docs/index.md"):
        assert QUICK_START in shell_commands((REPO_ROOT / page).read_text()), page
    clone = tmp_path / "secure-fastapi-template"
    cloned = run(["git", "clone", "--quiet", REPO_ROOT, clone], cwd=tmp_path, env=os.environ)
    require_success(cloned)
    # `pip` is a throwaway virtualenv's: this repo's (made by uv) has no pip, so a bare `pip`
    # would reach the next one on PATH and install uv into a system or user Python instead.
    user_python = tmp_path / "user-python"
    require_success(run([sys.executable, "-m", "venv", user_python], cwd=tmp_path, env=os.environ))
    path = f"{user_python / 'bin'}:{os.environ['PATH']}"
    env = clean_env(PATH=path, UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1")
    project = tmp_path / "my-api"

    with served_by(QUICK_START, cwd=clone, env=env, log=tmp_path / "quick-start.log"):
        assert_api_answers()
    assert (project / ".venv").is_dir(), "the quick start made no .venv in the project"

    # What Copier printed after the copy, run as printed from where Copier ran.
    printed = PRINTED_COMMANDS.search((tmp_path / "quick-start.log").read_text())
    assert printed, "Copier printed no commands after the copy"
    commands = [line.strip() for line in printed.group(1).splitlines()]
    assert commands[0] == "cd ../my-api", commands
    with served_by(" && ".join(commands), cwd=clone, env=env, log=tmp_path / "message.log"):
        assert httpx.get(f"{BASE_URL}/health/ready", timeout=30).status_code == 200
    readme = (project / "README.md").read_text()
    # The README's "Run it" block is the same commands, which have just run.
    assert readme_block(readme, "uv sync") == commands[1:]

    # The README's first block, after the clone that needs the user's URL.
    first_steps = readme_block(readme, CLONE)[1:]
    assert first_steps == ["uv sync", "uv run pytest"], first_steps
    for command in first_steps:
        result = run(["bash", "-c", command], cwd=project, env=env)
        require_success(result)
    assert re.search(r"\b\d+ passed\b", result.stdout), explain(result)

    # The Dockerfile's install step takes that lock and leaves the dev group out (a dry run, so
    # no second virtualenv is built).
    assert IMAGE_INSTALL in (project / "Dockerfile").read_text()
    image = {**env, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "image-venv")}
    planned = run(["bash", "-c", f"{IMAGE_INSTALL} --dry-run"], cwd=project, env=image)
    require_success(planned)
    assert re.search(r"^ \+ fastapi==", planned.stderr, re.MULTILINE), explain(planned)
    assert not re.search(r"^ \+ pytest==", planned.stderr, re.MULTILINE), explain(planned)
