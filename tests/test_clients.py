"""Clients generated from a render's OpenAPI document type-check and work, with no casts.

From the "domain" render (four resources, references, enums, a decimal) served by uvicorn, we
generate a Python client with openapi-python-client and TypeScript types with openapi-typescript
(from the npm registry, at the versions of ``tests/clients/package-lock.json``). Then
``mypy --strict`` checks ``tests/clients/program.py`` and ``tsc --strict`` checks
``tests/clients/program.ts`` against them: each reads answers' fields as the types the document
promises and creates rows with their required fields only. The Python program then runs against
the served app: sign-up, login, refresh, CRUD, offset and cursor pages, a filter, a stale
If-Match, logout.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.request import urlopen

import pytest
from helpers import (
    REPO_ROOT,
    clean_env,
    python_module,
    require_success,
    run,
    serving,
    unavailable,
)

PROGRAMS = REPO_ROOT / "tests" / "clients"
# The generated client's own modules are not all mypy --strict clean (openapi-python-client
# 0.29's client.py passes `*args` to `__exit__`): the program is checked, strictly, against
# their types, and their own errors are the generator's.
MYPY_CONFIG = """\
[mypy]
strict = True

[mypy-api_client.*]
ignore_errors = True
"""


@pytest.fixture(scope="module")
def typescript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with openapi-typescript and typescript installed by `npm ci`."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed: install Node.js 20 or later with npm")
    directory = tmp_path_factory.mktemp("typescript")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PROGRAMS / name, directory / name)
    command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    require_success(run(command, cwd=directory, env=clean_env(), timeout=300))
    return directory / "node_modules" / ".bin"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_generated_clients_type_check_and_work(
    render: Callable[[str], Path],
    database: tuple[str, str],
    typescript: Path,
    tmp_path: Path,
) -> None:
    project = render("domain")
    _, url = database
    env = clean_env(ENVIRONMENT="development", DATABASE_URL=url, SECRET_KEY=secrets.token_hex(32))
    require_success(run(python_module("alembic", "upgrade", "head"), cwd=project, env=env))

    with serving(project, env, tmp_path / "uvicorn.log") as base_url:
        with urlopen(f"{base_url}/openapi.json", timeout=10) as response:  # noqa: S310 (loopback)
            document = json.load(response)
        (tmp_path / "openapi.json").write_text(json.dumps(document))

        generate = python_module(
            "openapi_python_client",
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "api_client",
        )
        require_success(run(generate, cwd=tmp_path, env=clean_env()))
        shutil.copy(PROGRAMS / "program.py", tmp_path / "program.py")
        (tmp_path / "mypy.ini").write_text(MYPY_CONFIG)
        mypy = python_module("mypy", "--config-file", "mypy.ini", "program.py")
        require_success(run(mypy, cwd=tmp_path, env=clean_env()))
        ran = run([sys.executable, "program.py", base_url], cwd=tmp_path, env=clean_env())
        require_success(ran)
        assert ran.stdout.strip() == "ok"

    # The document marks required what is, so the generator's guess from defaults is not needed.
    types = [str(typescript / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"]
    require_success(run([*types, "--default-non-nullable", "false"], cwd=tmp_path, env=clean_env()))
    shutil.copy(PROGRAMS / "program.ts", tmp_path / "program.ts")
    tsc = [
        str(typescript / "tsc"),
        "--strict",
        "--noEmit",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "program.ts",
    ]
    require_success(run(tsc, cwd=tmp_path, env=clean_env()))
