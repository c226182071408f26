"""Changes of the resources answer reach a database that holds rows, through `copier update`.

A project is rendered with two resources, migrated, and given rows in every table through its own
API. Its resources then change one step at a time with `copier update --data-file`, as
docs/updating.md shows, and after each step:

- every revision the project had is as it was, byte for byte, and the new one follows them;
- `alembic upgrade head` and `alembic check` pass on the team's database, which keeps every row
  that should survive;
- a database built from nothing by the same revisions has the same schema;
- the app serves the rows, and after the last step the project's own suite passes.

Changes that cannot be made on rows as they are stop the revision before it changes anything, with
a sentence that says what to do; a downgrade goes back step by step with the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from copier import VcsRef
from helpers import clean_env, explain, python_module, run, serving, temporary_postgres_database
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
    update,
)

pytestmark = pytest.mark.usefixtures("git_identity")

Rows = dict[str, dict[Any, dict[str, Any]]]  # table -> id -> column -> value

START = {
    "todo": {"title": "str(200)", "notes": "text?", "done": "bool = false"},
    "note": {"body": "text"},
}
PASSWORD = "correct horse battery staple"
TODOS = [
    {"title": "Water the plants", "notes": "the ferns too"},
    {"title": "Call the bank", "done": True},
    {"title": "Write the report", "notes": None},
]
NOTES = [{"body": "Gate code is on the fridge."}, {"body": "Bins go out on Thursday."}]


@dataclass(frozen=True)
class Step:
    """One change of the resources, and what it does to the rows of the team's database."""

    name: str
    resources: dict[str, dict[str, str]]
    rows: Callable[[Rows], Rows]


def with_todos(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Rows], Rows]:
    return lambda rows: {**rows, "todos": {i: change(row) for i, row in rows["todos"].items()}}


def without(table: str) -> Callable[[Rows], Rows]:
    return lambda rows: {name: found for name, found in rows.items() if name != table}


def todo(**fields: str) -> dict[str, dict[str, str]]:
    return {"todo": fields, "note": START["note"]}


STEPS = [
    Step(
        "add an optional field",
        todo(**START["todo"], due="date?"),
        with_todos(lambda row: {**row, "due": None}),
    ),
    Step(
        "add a required field with a default",
        todo(**START["todo"], due="date?", priority="int = 3"),
        with_todos(lambda row: {**row, "priority": 3}),
    ),
    Step(
        "change a str(N) length",
        todo(title="str(120)", notes="text?", done="bool = false", due="date?", priority="int = 3"),
        lambda rows: rows,
    ),
    Step(
        "remove a field",
        todo(title="str(120)", done="bool = false", due="date?", priority="int = 3"),
        with_todos(lambda row: {key: value for key, value in row.items() if key != "notes"}),
    ),
    Step(
        "add a resource",
        {
            **todo(title="str(120)", done="bool = false", due="date?", priority="int = 3"),
            "label": {"name": "str(40)"},
        },
        lambda rows: {**rows, "labels": {}},
    ),
    Step(
        "remove a resource",
        {
            "todo": {
                "title": "str(120)",
                "done": "bool = false",
                "due": "date?",
                "priority": "int = 3",
            },
            "label": {"name": "str(40)"},
        },
        without("notes"),
    ),
]


# PostgreSQL takes the changes that widen the schema; the rest run on SQLite, whose batch mode
# copies tables where PostgreSQL alters them.
POSTGRESQL_STEPS = [
    STEPS[0],
    Step(
        "add a resource",
        {**STEPS[0].resources, "label": {"name": "str(40)"}},
        lambda rows: {**rows, "labels": {}},
    ),
]


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory, git_identity: None) -> Path:
    return tag_work_tree(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    caches = tmp_path_factory.mktemp("schema-caches")
    return clean_env(ENVIRONMENT="test", MYPY_CACHE_DIR=str(caches / "mypy"))


@dataclass
class Databases:
    """The team's database, and a source of empty ones, on one backend."""

    backend: str
    live: str
    empty: Callable[[], AbstractContextManager[str]]


@pytest.fixture
def databases(database: tuple[str, str], tmp_path: Path) -> Iterator[Databases]:
    backend, live = database
    if backend == "sqlite":
        counter = itertools.count()
        yield Databases(
            backend, live, lambda: nullcontext(sqlite_url(tmp_path / f"new{next(counter)}.db"))
        )
        return
    server = live  # a database of its own on the server of TEST_DATABASE_URL
    yield Databases(backend, live, lambda: temporary_postgres_database(server))


@pytest.fixture
def seeded_project(
    template_repo: Path, project_env: dict[str, str], databases: Databases, tmp_path: Path
) -> Path:
    """A project at START whose database holds rows in every table."""
    project = new_project(template_repo, tmp_path / "api", "v0.1.0", resources=START)
    migrate_and_check(project, project_env, databases.live)
    seed(project, project_env, databases.live, tmp_path / "seed.log")
    return project


def engine_for(url: str) -> sa.Engine:
    """A synchronous engine: psycopg 3 serves PostgreSQL here, as in the app."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def read_rows(url: str) -> Rows:
    engine = engine_for(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                # A link table has no id: its rows are keyed by their two ids.
                name: {
                    row.get("id", tuple(row.values())): dict(row)
                    for row in connection.execute(table.select()).mappings()
                }
                for name, table in metadata.tables.items()
                if name != "alembic_version"
            }
    finally:
        engine.dispose()


def by_name(found: Sequence[Any]) -> list[Any]:
    return sorted(found, key=lambda item: str(item["name"]))


def read_schema(url: str) -> dict[str, Any]:
    """Every table's columns, keys, indexes and constraints, in a form two databases compare by."""
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table),
                # By name: a copied table (SQLite's batch mode) lists them in another order.
                "foreign keys": by_name(inspector.get_foreign_keys(table)),
                "indexes": by_name(inspector.get_indexes(table)),
                "unique": by_name(inspector.get_unique_constraints(table)),
                "checks": by_name(inspector.get_check_constraints(table)),
            }
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def shipped(project: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in (project / "migrations/versions").glob("*.py")}


@contextmanager
def signed_in(project: Path, env: dict[str, str], url: str, log: Path) -> Iterator[httpx.Client]:
    """The project's app served on the database at ``url``, with a client signed in as Ada."""
    app_env = {**env, "ENVIRONMENT": "development", "DATABASE_URL": url}
    with serving(project, app_env, log) as base, httpx.Client(base_url=f"{base}/api/v1") as client:
        form = {"username": "ada@example.com", "password": PASSWORD}
        r = client.post("/auth/login", data=form)
        if r.status_code == 401:
            r = client.post(
                "/auth/register", json={"email": form["username"], "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
            r = client.post("/auth/login", data=form)
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client


def seed(project: Path, env: dict[str, str], url: str, log: Path) -> None:
    """Rows in every table, through the app: a user, the link that verifies their email, a
    session and its refresh token, todos and notes, and the audit row of ending that session."""
    with signed_in(project, env, url, log) as client:
        for path, bodies in (("/todos", TODOS), ("/notes", NOTES)):
            for body in bodies:
                r = client.post(path, json=body)
                assert r.status_code == 201, r.text
        r = client.get("/users/me/sessions")
        assert r.status_code == 200, r.text
        ending = {"current_password": PASSWORD, "session_ids": [r.json()[0]["id"]]}
        r = client.post("/users/me/sessions/end", json=ending)
        assert r.status_code == 204, r.text


def served_todos(project: Path, env: dict[str, str], url: str, log: Path) -> list[dict[str, Any]]:
    with signed_in(project, env, url, log) as client:
        r = client.get("/todos", params={"limit": 100, "sort": "created_at"})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


def suite_env(env: dict[str, str], databases: Databases, url: str) -> dict[str, str]:
    """The project's suite runs on SQLite by default, and on the PostgreSQL server of ``url``."""
    return env if databases.backend == "sqlite" else {**env, "TEST_DATABASE_URL": url}


def walk(
    project: Path,
    env: dict[str, str],
    databases: Databases,
    steps: list[Step],
    workdir: Path,
    suites: bool = True,
) -> None:
    """Take the project, and the team's database with its rows, through ``steps``; run the
    project's resource tests after each (``suites``) or after the last."""
    rows = read_rows(databases.live)
    for number, step in enumerate(steps, start=1):
        before = shipped(project)
        changes = workdir / f"step{number}.yml"
        changes.write_text(yaml.safe_dump({"resources": step.resources}, sort_keys=False))
        said = copier_cli(project, "--vcs-ref=:current:", "--data-file", str(changes))
        revision = f"resources_{number + 1:04d}"
        assert f"migrations/versions has {revision}" in said, f"{step.name}: {said}"
        assert conflict_leftovers(project) == [], step.name
        after = shipped(project)
        assert {path: after.get(path) for path in before} == before, f"{step.name}: rewritten"
        assert set(after) - set(before) == {project / f"migrations/versions/{revision}.py"}
        commit_all(project, step.name)

        migrate_and_check(project, env, databases.live)
        rows = step.rows(rows)
        assert read_rows(databases.live) == rows, step.name
        with databases.empty() as fresh:
            migrate_and_check(project, env, fresh)
            assert read_schema(fresh) == read_schema(databases.live), step.name
            if suites or number == len(steps):
                # The tests the resources answer shapes: the rest are the defaults' suite,
                # which tests/test_render.py runs.
                tests = ["tests/test_openapi.py", *(f"tests/{name}" for name in step.resources)]
                run_suite(project, suite_env(env, databases, fresh), *tests)


def test_resource_changes_migrate_a_database_with_rows(
    seeded_project: Path, project_env: dict[str, str], databases: Databases, tmp_path: Path
) -> None:
    project = seeded_project
    rows = read_rows(databases.live)
    assert {table: len(found) for table, found in rows.items()} == {
        "users": 1,
        "account_tokens": 1,  # the link that verifies Ada's email
        "auth_sessions": 1,
        "refresh_tokens": 1,
        "audit_events": 1,  # Ada ending the session she seeded with
        "todos": 3,
        "notes": 2,
    }

    steps = STEPS if databases.backend == "sqlite" else POSTGRESQL_STEPS
    # Each step's code is a render like those of tests/test_render.py: one suite, at the end.
    walk(project, project_env, databases, steps, tmp_path, suites=False)

    served = served_todos(project, project_env, databases.live, tmp_path / "served.log")
    assert [todo["title"] for todo in served] == [todo["title"] for todo in TODOS]
    # Down again through every step's downgrade to the first schema, with the rows.
    alembic(project, project_env, databases.live, "downgrade", "note_0001")
    rows = read_rows(databases.live)
    assert sorted(row["title"] for row in rows["todos"].values()) == sorted(
        todo["title"] for todo in TODOS
    )
    migrate_and_check(project, project_env, databases.live)


# --- A domain: references, lists, enumerations, bounds and uniqueness ------------------------

DOMAIN = {
    "project": {"name": "str(1..120) unique"},
    "tag": {"label": "str(40) unique"},
    "task": {"title": "str(200)", "project": "project"},
}
GROWN = {
    **DOMAIN,
    "task": {
        **DOMAIN["task"],
        "title": "str(200) search",
        "parent": "task?",
        "tags": "tag[]",
        "state": "enum(todo, done) = todo",
        "estimate": "int(0..1000) = 0 index",
        "code": "str(20)? unique",
    },
}


def with_tasks(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Rows], Rows]:
    return lambda rows: {**rows, "tasks": {i: change(row) for i, row in rows["tasks"].items()}}


DOMAIN_STEPS = [
    Step(
        "add a reference, a list, an enum, bounds, a unique field and indexes",
        GROWN,
        lambda rows: {
            **with_tasks(
                lambda row: {
                    **row,
                    "parent_id": None,
                    "state": "todo",
                    "estimate": 0,
                    "code": None,
                }
            )(rows),
            "tasks_tags": {},
        },
    ),
    Step(
        "change values, bounds, uniqueness, indexes and what a delete does",
        {
            **DOMAIN,
            "task": {
                **GROWN["task"],
                "title": "str(200) unique",
                "project": "project cascade",
                "state": "enum(todo, doing, done) = todo",
                "estimate": "int(0..100) = 0",
                "code": "str(20)?",
            },
        },
        lambda rows: rows,
    ),
    Step(
        "remove them",
        {**DOMAIN, "task": {"title": "str(200) unique", "project": "project cascade"}},
        lambda rows: without("tasks_tags")(
            with_tasks(
                lambda row: {
                    key: value
                    for key, value in row.items()
                    if key not in ("parent_id", "state", "estimate", "code")
                }
            )(rows)
        ),
    ),
    Step(
        "remove a referenced resource's last referrer's table",
        {"project": DOMAIN["project"], "tag": DOMAIN["tag"]},
        without("tasks"),
    ),
]


def test_domain_changes_migrate_a_database_with_rows(
    template_repo: Path,
    project_env: dict[str, str],
    databases: Databases,
    tmp_path: Path,
) -> None:
    project = new_project(template_repo, tmp_path / "api", "v0.1.0", resources=DOMAIN)
    migrate_and_check(project, project_env, databases.live)
    with signed_in(project, project_env, databases.live, tmp_path / "seed.log") as client:
        made = {}
        for path, body in (("/projects", {"name": "Garden"}), ("/tags", {"label": "urgent"})):
            r = client.post(path, json=body)
            assert r.status_code == 201, r.text
            made[path] = r.json()["id"]
        for title in ("Dig", "Plant", "Water"):
            r = client.post("/tasks", json={"title": title, "project_id": made["/projects"]})
            assert r.status_code == 201, r.text
    steps = DOMAIN_STEPS
    if databases.backend == "postgresql":
        steps = [DOMAIN_STEPS[0], DOMAIN_STEPS[2]]

    # Each step's code is a render like those of tests/test_render.py: one suite, at the end.
    walk(project, project_env, databases, steps, tmp_path, suites=False)

    projects = read_rows(databases.live)["projects"]
    alembic(project, project_env, databases.live, "downgrade", "task_0001")
    assert read_rows(databases.live)["projects"] == projects
    migrate_and_check(project, project_env, databases.live)


# --- Changes that rows stand in the way of ---------------------------------------------------

# (what changes, the resources after the change, the sentence the upgrade stops with)
REFUSED = [
    (
        "new-required-field-without-default",
        todo(**START["todo"], due="date"),
        "todos has rows, and the new required field due has no default to give them: make it "
        "optional or give it a default in the resources answer, or fill it in "
        "migrations/versions/resources_0002.py.",
    ),
    (
        "type-change",
        todo(title="str(200)", notes="int?", done="bool = false"),
        "todos.notes holds values, and it changes type from text to int: convert them in "
        "migrations/versions/resources_0002.py, or empty the column first.",
    ),
    (
        "shorter-than-the-values",
        todo(title="str(12)", notes="text?", done="bool = false"),
        "todos.title holds values longer than 12 characters, the length it takes now: shorten "
        "them first.",
    ),
    (
        "required-with-nulls",
        todo(title="str(200)", notes="text", done="bool = false"),
        "todos.notes holds nulls, and it is required now, with no default: fill them first, or "
        "give it a default in the resources answer.",
    ),
]


def refused(project: Path, env: dict[str, str], url: str, *command: str) -> str:
    """What Alembic says when ``command`` fails, as it must."""
    result = run(python_module("alembic", *command), cwd=project, env={**env, "DATABASE_URL": url})
    assert result.returncode != 0, explain(result)
    return result.stdout + result.stderr


def test_a_change_that_rows_stand_in_the_way_of_changes_nothing(
    seeded_project: Path, project_env: dict[str, str], databases: Databases, tmp_path: Path
) -> None:
    project, live = seeded_project, databases.live
    as_it_was = (read_schema(live), read_rows(live))
    for change, resources, message in REFUSED:
        update(project, ref=VcsRef.CURRENT, resources=resources)

        said = refused(project, project_env, live, "upgrade", "head")

        assert f"FAILED: {message}" in said, f"{change}: {said}"
        assert (read_schema(live), read_rows(live)) == as_it_was, change
        # A database without rows takes the same revision.
        with databases.empty() as fresh:
            migrate_and_check(project, project_env, fresh)
        # Aborted as docs/updating.md shows, for the next change.
        git("reset", "--hard", "--quiet", "HEAD", cwd=project)
        git("clean", "-d", "--force", "--quiet", cwd=project)


def test_a_downgrade_that_cannot_restore_values_changes_nothing(
    seeded_project: Path, project_env: dict[str, str], databases: Databases
) -> None:
    project, live = seeded_project, databases.live
    update(project, ref=VcsRef.CURRENT, resources={**START, "note": {"title": "str = untitled"}})
    migrate_and_check(project, project_env, live)
    as_it_was = (read_schema(live), read_rows(live))

    said = refused(project, project_env, live, "downgrade", "-1")

    assert (
        "FAILED: notes has rows, and body, required with no default before this revision, cannot "
        "come back: the upgrade dropped its values."
    ) in said, said
    assert (read_schema(live), read_rows(live)) == as_it_was
    assert [row["title"] for row in as_it_was[1]["notes"].values()] == ["untitled"] * len(NOTES)


# --- Revisions written by `alembic revision --autogenerate` ----------------------------------

HAND_MADE = (
    (
        "app/todo/models.py",
        "    title: str = Field(min_length=1, max_length=200)\n",
        "    hint: str | None = Field(default=None, max_length=40)\n",
    ),
    (
        "app/vault/models.py",
        "    pin: str = Field(min_length=1, max_length=1000, repr=False, sa_type=EncryptedText)\n",
        "    spare_pin: str | None = Field(\n"
        "        default=None, max_length=20, repr=False, sa_type=EncryptedText\n"
        "    )\n",
    ),
)


def test_an_autogenerated_revision_is_clean_and_runs_on_both_databases(
    template_repo: Path, project_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    """Models changed by hand: the revision Alembic writes lints, type-checks and migrates
    SQLite and PostgreSQL alike, whichever it was written on."""
    project = new_project(
        template_repo,
        tmp_path / "api",
        "v0.1.0",
        resources={"todo": {"title": "str(200)"}, "vault": {"pin": "encrypted"}},
    )
    written_on = sqlite_url(tmp_path / "app.db")
    alembic(project, project_env, written_on, "upgrade", "head")
    for name, anchor, added in HAND_MADE:
        path = project / name
        assert anchor in path.read_text(), path.read_text()
        path.write_text(path.read_text().replace(anchor, anchor + added))

    message = "add a hint and a spare pin"
    said = alembic(project, project_env, written_on, "revision", "--autogenerate", "-m", message)

    (revision,) = (project / "migrations/versions").glob("*_add_a_hint_and_a_spare_pin.py")
    text = revision.read_text()
    assert 'sa.Column("hint", sa.String(length=40), nullable=True)' in text, text
    assert 'sa.Column("spare_pin", sa.Text(), nullable=True)' in text, text
    assert "sqlmodel" not in text, text
    assert "app." not in text, text
    for check in (("ruff", "check"), ("ruff", "format", "--check"), ("mypy",)):
        result = run(python_module(*check, str(revision)), cwd=project, env=project_env)
        assert result.returncode == 0, explain(result) + said
    migrate_and_check(project, project_env, written_on)
    with temporary_postgres_database(postgres_url) as url:
        migrate_and_check(project, project_env, url)
        alembic(project, project_env, url, "downgrade", "base")


def test_a_longer_encrypted_field_is_recorded_without_a_revision(
    copy_template: Callable[[dict[str, Any]], Path],
) -> None:
    """The database never sees an encrypted field's length, but the history must: a later
    change is checked against it (the validator refuses a shorter one)."""
    before = [{"vault": {"pin": "encrypted(20)"}}]
    project = copy_template(
        {"schema_history": before, "resources": {"vault": {"pin": "encrypted(50)"}}}
    )

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    pin = {"vault": {"pin": "encrypted(50)"}}
    assert answers["schema_history"] == [*before, pin, "auth_0002", "auth_0003"]
    revisions = sorted(path.name for path in (project / "migrations/versions").glob("*.py"))
    assert revisions == ["auth_0001.py", "auth_0002.py", "auth_0003.py", "vault_0001.py"]
