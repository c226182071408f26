"""A user's first steps, as the docs print them, on a stand-in for a fresh Debian 12 machine.

That machine has Debian's system Python 3.11, which refuses `pip install` (PEP 668), and git: no
uv, no pip or venv to rely on, a new HOME. Here that is a new HOME and a PATH of /usr/bin and /bin
only, where `python3` must be Debian's own, with its EXTERNALLY-MANAGED marker, and `pip` and
`pip3` are stubs that fail (Debian's python3-pip is no part of a fresh install). The README's
quick start runs word for word in bash there, from a clone of this repository at HEAD (so commit
first: the clone has no uncommitted change), and must serve the API on port 8000. The project is
committed as the README says and updates to a later commit of the clone. Then the commands that
Copier printed after the copy, and the rendered README's install and test commands, run as
printed in the project it made; every other render check borrows this repo's environment, this
one builds the project's own from its ``pyproject.toml`` alone. Last, the README's test command
starts the template's own suite. It needs PyPI (the uv wheel, Copier, every dependency) and
port 8000.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from helpers import (
    REPO_ROOT,
    explain,
    python_module,
    require_success,
    run,
    shell_blocks,
    shell_commands,
    unavailable,
    wait_until_serving,
)
from projects import GIT_IDENTITY

INSTALL_UV = 'python3 scripts/install_uv.py && export PATH="$HOME/.local/bin:$PATH"'
QUICK_START = (
    f'{INSTALL_UV} && uvx copier copy --defaults --vcs-ref HEAD "$PWD" ../my-api && cd ../my-api'
    " && uv run alembic upgrade head && uv run fastapi dev"
)
# The README's step after the quick start, in the project, and its test command, in the clone.
COMMIT_PROJECT = 'git init && git add --all && git commit -m "Render secure-fastapi-template"'
TEMPLATE_TESTS = f"{INSTALL_UV} && uv run pytest"
# The docs' update of a project that follows a clone's commits.
UPDATE_TO_HEAD = "uvx copier update --defaults --conflict inline --vcs-ref HEAD"
# Where `fastapi dev` serves, as the quick start and Copier's message tell users to open it.
BASE_URL = "http://127.0.0.1:8000"
# Copier's message after the copy: the indented commands between "is ready in" and a blank line.
PRINTED_COMMANDS = re.compile(r"is ready in .*\n\n((?:  \S.*\n)+)\n")
# The rendered README's first block starts with the clone that only a user's URL can fill in.
CLONE = "git clone <this repository's URL> my-api && cd my-api"
# The Dockerfile's install step, checked on the lock that the quick start's `uv run` wrote.
IMAGE_INSTALL = "uv sync --locked --no-dev"
SIGN_UP = {"email": "ada@example.com", "password": "correct horse battery staple 42"}
# Debian 12's Python, and the python3-pip programs a fresh install lacks, which this machine has.
DEBIAN_PYTHON = Path("/usr/bin/python3")
ABSENT = ("pip", "pip3")
NETWORK_VARIABLES = frozenset({"http_proxy", "https_proxy", "no_proxy", "all_proxy"})
# A later commit of the template, as a `git pull` in the clone would bring.
LATER_COMMIT = ("template/.dockerignore", "# Editor swap files\n*.swp\n")


def fresh_debian(tmp_path: Path) -> dict[str, str]:
    """The environment of a new user's shell on a fresh Debian 12, as near as this machine gets.

    Only uv's download cache is shared with this machine's, to spare PyPI: it holds the same
    files a download would. A git identity stands for the user's one-time `git config`, and the
    machine's certificate and proxy variables are kept, for its way out to PyPI.
    """
    marker = DEBIAN_PYTHON.parent.parent / "lib/python3.11/EXTERNALLY-MANAGED"
    if not marker.is_file():
        unavailable(f"no Debian Python 3.11 with PEP 668's marker at {DEBIAN_PYTHON}")
    stubs = tmp_path / "not-on-debian"
    stubs.mkdir()
    for name in ABSENT:
        stub = stubs / name
        stub.write_text(f"#!/bin/sh\necho '{name}: command not found' >&2\nexit 127\n")
        stub.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    cache = run(python_module("uv", "cache", "dir"), cwd=tmp_path, env=os.environ).stdout.strip()
    # How this machine reaches PyPI (a proxy, its CA): the network's, not the user's set-up.
    network = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("SSL_CERT_") or name.lower() in NETWORK_VARIABLES
    }
    return {
        **network,
        "HOME": str(home),
        "PATH": f"{stubs}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": cache or str(home / ".cache/uv"),
        # No interpreter downloads here; the fresh machine has Python 3.11, which the project takes.
        "UV_PYTHON_DOWNLOADS": "never",
        **GIT_IDENTITY,
    }


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
        commands = shell_commands((REPO_ROOT / page).read_text())
        assert QUICK_START in commands, page
        assert COMMIT_PROJECT in commands, page
        assert TEMPLATE_TESTS in commands, page
    clone = tmp_path / "secure-fastapi-template"
    cloned = run(["git", "clone", "--quiet", REPO_ROOT, clone], cwd=tmp_path, env=os.environ)
    require_success(cloned)
    env = fresh_debian(tmp_path)
    python = run(["bash", "-c", "command -v python3; command -v uv uvx"], cwd=clone, env=env)
    assert python.stdout == f"{DEBIAN_PYTHON}\n", explain(python)
    project = tmp_path / "my-api"

    with served_by(QUICK_START, cwd=clone, env=env, log=tmp_path / "quick-start.log"):
        assert_api_answers()
    assert (project / ".venv").is_dir(), "the quick start made no .venv in the project"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(clone), answers
    # A new login shell finds uv where the install put it (Debian's ~/.profile adds the folder).
    env["PATH"] = f"{env['HOME']}/.local/bin:{env['PATH']}"

    # Committed as the README says, the project updates cleanly to a later commit of the clone.
    require_success(run(["bash", "-c", COMMIT_PROJECT], cwd=project, env=env))
    clean = run(["git", "status", "--porcelain"], cwd=project, env=env)
    assert clean.stdout == "", f"the commit left files out: {clean.stdout}"
    name, added = LATER_COMMIT
    with (clone / name).open("a") as changed:
        changed.write(added)
    require_success(
        run(["git", "commit", "--quiet", "-am", "ignore swap files"], cwd=clone, env=env)
    )
    updated = run(["bash", "-c", UPDATE_TO_HEAD], cwd=project, env=env)
    require_success(updated)
    assert (project / ".dockerignore").read_text().endswith(added), explain(updated)
    changes = run(["git", "status", "--porcelain"], cwd=project, env=env).stdout
    assert changes.split() == ["M", ".copier-answers.yml", "M", ".dockerignore"], changes

    # What Copier printed after the copy, run as printed from where Copier ran.
    printed = PRINTED_COMMANDS.search((tmp_path / "quick-start.log").read_text())
    assert printed, "Copier printed no commands after the copy"
    commands = [line.strip() for line in printed.group(1).splitlines()]
    assert commands[0] == "cd ../my-api", commands
    with served_by(" && ".join(commands), cwd=clone, env=env, log=tmp_path / "message.log"):
        assert httpx.get(f"{BASE_URL}/health/ready", timeout=30).status_code == 200
    assert f"\n  {COMMIT_PROJECT}\n" in (tmp_path / "quick-start.log").read_text()
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

    # The README's test command builds the template's environment there and runs its tests:
    # here the python_version validator's, as all of them would take the length of CI itself.
    some_tests = (
        f"{TEMPLATE_TESTS} -q -n 0 -p no:cacheprovider tests/test_validators.py -k python_version"
    )
    tested = run(["bash", "-c", some_tests], cwd=clone, env={**env, "CI": "true"})
    require_success(tested)
    assert re.search(r"\b3 passed\b", tested.stdout), explain(tested)
