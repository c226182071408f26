"""The questions refuse bad answers with a message that says what to type, and accept good ones."""

from __future__ import annotations

import base64
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO_ROOT

CopyTemplate = Callable[[Mapping[str, Any]], Path]

RESOURCE_TYPES = (
    "str, text, int, float, decimal, bool, date, datetime, uuid, email, url, encrypted, enum"
)
NO_BOUNDS = "only str, encrypted, int, float and decimal do, as in str(80) or int(0..10)"
NOT_UNIQUE = (
    "unique takes a field of str, int, float, decimal, date, datetime, uuid, email, url or a "
    "reference; not "
)

# (answers, question, the part of the message that tells the user what to do)
REFUSED: list[Any] = [
    pytest.param(
        {"resources": "todo: {due: date search}"},
        "resources",
        'field "todo.due": search takes a field of str, text, email, url; not date',
        id="resources-search-on-date",
    ),
    pytest.param(
        {"project_name": "1st API"},
        "project_name",
        'Start with a letter and use only letters, digits, spaces, "-" or "_"',
        id="project_name-starts-with-digit",
    ),
    pytest.param(
        {"project_name": "acme/api"},
        "project_name",
        'Start with a letter and use only letters, digits, spaces, "-" or "_"',
        id="project_name-has-slash",
    ),
    pytest.param(
        {"author_email": "dev.example.com"},
        "author_email",
        "Type an email address such as dev@example.com",
        id="author_email-no-at",
    ),
    pytest.param(
        {"python_version": "3.10"},
        "python_version",
        "Type 3.11, 3.12, 3.13 or 3.14",
        id="python_version-3.10",
    ),
    pytest.param(
        {"python_version": "3.15"},
        "python_version",
        "Type 3.11, 3.12, 3.13 or 3.14",
        id="python_version-3.15",
    ),
    pytest.param(
        {"python_version": "abc"},
        "python_version",
        "Type 3.11, 3.12, 3.13 or 3.14",
        id="python_version-abc",
    ),
    pytest.param(
        {"database_url": "mysql://user:pw@localhost/app"},
        "database_url",
        "Use a SQLite URL (sqlite:///./app.db) or a PostgreSQL URL",
        id="database_url-mysql",
    ),
    pytest.param(
        {"database_url": "postgresql:///app"},
        "database_url",
        "Add a host to the PostgreSQL URL, e.g. postgresql://user:password@localhost:5432/dbname",
        id="database_url-postgresql-without-host",
    ),
    pytest.param(
        {"database_url": "postgresql://user:pw@/app"},
        "database_url",
        "Add a host to the PostgreSQL URL, e.g. postgresql://user:password@localhost:5432/dbname",
        id="database_url-postgresql-userinfo-without-host",
    ),
    pytest.param(
        {"resources": "import: {title: str}"},
        "resources",
        'resource name "import" is a Python keyword; choose another name',
        id="resources-keyword-resource",
    ),
    pytest.param(
        {"resources": "todo: {class: str}"},
        "resources",
        'field "todo.class" is a Python keyword; choose another name',
        id="resources-keyword-field",
    ),
    *(
        pytest.param(
            {"resources": f"todo: {{title: str, {column}: int}}"},
            "resources",
            f'field "todo.{column}" clashes with a generated name',
            id=f"resources-reserved-{column}",
        )
        for column in ("id", "owner_id", "created_at", "updated_at", "cursor")
    ),
    pytest.param(
        {"resources": "todo: {title: string}"},
        "resources",
        f'field "todo.title": unknown type "string"; use one of {RESOURCE_TYPES}',
        id="resources-unknown-type",
    ),
    pytest.param(
        {"resources": "todo: {count: int = abc}"},
        "resources",
        'field "todo.count": default "abc" must be a whole number',
        id="resources-bad-int-default",
    ),
    pytest.param(
        {"resources": "todo: {due: date = 2020-01-01}"},
        "resources",
        'field "todo.due": default "2020-01-01" is not supported for date fields',
        id="resources-date-default",
    ),
    pytest.param(
        {"resources": "vault: {pin: encrypted = 1234}"},
        "resources",
        'field "vault.pin": default "1234" is not allowed: a secret every row shares is no secret',
        id="resources-encrypted-default",
    ),
    pytest.param(
        {"resources": "todo: {notes: text(80)}"},
        "resources",
        f'field "todo.notes": text takes no bounds or length; {NO_BOUNDS}',
        id="resources-length-on-text",
    ),
    pytest.param(
        {"resources": "vault: {pin: encrypted(0)}"},
        "resources",
        'field "vault.pin": a length must be between 1 and 10000',
        id="resources-encrypted-length-zero",
    ),
    pytest.param(
        {"resources": "user: {name: str}"},
        "resources",
        'resource name "user" is used by the generated app',
        id="resources-reserved-name",
    ),
    pytest.param(
        {"resources": "caller: {name: str}"},
        "resources",
        'resource name "caller" would name its class Caller, which its modules already import',
        id="resources-class-name-of-the-auth-models",
    ),
    pytest.param(
        {"resources": "day: {name: str}"},
        "resources",
        'resource name "day" would name its class Day, which its modules already import',
        id="resources-class-name-of-a-field-type",
    ),
    pytest.param(
        {"resources": "audit_event: {name: str}"},
        "resources",
        'resource name "audit_event" is used by the generated app',
        id="resources-reserved-audit-table",
    ),
    pytest.param(
        {"resources": "i: {title: str}"},
        "resources",
        'resource name "i" has the plural "is", a Python keyword; choose another name',
        id="resources-keyword-plural",
    ),
    pytest.param(
        {
            "schema_history": [{"vault": {"pin": "encrypted(50)"}}],
            "resources": {"vault": {"pin": "encrypted(20)"}},
        },
        "resources",
        'field "vault.pin": an encrypted field cannot get shorter once it is in the database',
        id="resources-shorter-encrypted-field",
    ),
    pytest.param(
        {"schema_history": [42]},
        "resources",
        "schema_history in .copier-answers.yml is damaged: restore it from git",
        id="schema-history-damaged",
    ),
    pytest.param(
        {"resources": "42"},
        "resources",
        "resources must be a mapping of resource names to fields",
        id="resources-not-a-mapping",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: projekt}}"},
        "resources",
        f'field "task.project": unknown type "projekt"; use one of {RESOURCE_TYPES}, '
        "or a resource: project, task",
        id="resources-unknown-reference",
    ),
    pytest.param(
        {"resources": "task: {status: 'enum(todo, done, todo)'}"},
        "resources",
        'field "task.status": an enum lists each value once',
        id="resources-enum-duplicate-value",
    ),
    pytest.param(
        {"resources": "task: {status: 'enum(ToDo, done)'}"},
        "resources",
        'field "task.status": enum values must be snake_case, as in enum(to_do, done); not ToDo',
        id="resources-enum-value-not-snake-case",
    ),
    pytest.param(
        {"resources": "task: {status: 'enum(todo, done) = later'}"},
        "resources",
        'field "task.status": default "later" is not one of todo, done',
        id="resources-enum-default-outside-values",
    ),
    pytest.param(
        {"resources": "task: {status: enum(todo)}"},
        "resources",
        'field "task.status": an enum lists at least two values, as in enum(todo, done)',
        id="resources-enum-one-value",
    ),
    pytest.param(
        {"resources": "task: {status: enum}"},
        "resources",
        'field "task.status": an enum lists its values, as in enum(todo, done)',
        id="resources-enum-without-values",
    ),
    pytest.param(
        {"resources": "task: {rank: int(10..1)}"},
        "resources",
        'field "task.rank": MIN must be below MAX in int(10..1); write them as int(1..10)',
        id="resources-int-bounds-reversed",
    ),
    pytest.param(
        {"resources": "task: {title: str(120..1)}"},
        "resources",
        'field "task.title": MIN must be below MAX in str(120..1); write them as str(1..120)',
        id="resources-str-bounds-reversed",
    ),
    pytest.param(
        {"resources": "task: {title: str(300..)}"},
        "resources",
        "the longest a str is by default is 255",
        id="resources-str-min-above-default-length",
    ),
    *(
        pytest.param(
            {"resources": f"task: {{due: {kind}(1..2)}}"},
            "resources",
            f'field "task.due": {kind} takes no bounds or length; {NO_BOUNDS}',
            id=f"resources-bounds-on-{kind}",
        )
        for kind in ("date", "bool")
    ),
    *(
        pytest.param(
            {"resources": f"task: {{rank: int({bounds})}}"},
            "resources",
            'field "task.rank": bounds are written MIN..MAX, either end left open, '
            "as in int(0..100) or int(1..)",
            id=f"resources-malformed-bounds-{bounds}",
        )
        for bounds in ("1-10", "..")
    ),
    pytest.param(
        {"resources": "task: {rank: int(a..b)}"},
        "resources",
        'field "task.rank": bounds of int must be whole numbers, as in int(0..100)',
        id="resources-bounds-not-numbers",
    ),
    pytest.param(
        {"resources": "task: {rank: int(0..10) = 11}"},
        "resources",
        'field "task.rank": default "11" lies outside 0..10',
        id="resources-default-outside-bounds",
    ),
    pytest.param(
        {"resources": "task: {notes: text unique}"},
        "resources",
        f'field "task.notes": {NOT_UNIQUE}text',
        id="resources-unique-text",
    ),
    pytest.param(
        {"resources": "vault: {pin: encrypted unique}"},
        "resources",
        f'field "vault.pin": {NOT_UNIQUE}encrypted',
        id="resources-unique-encrypted",
    ),
    pytest.param(
        {"resources": "{tag: {name: str}, post: {tags: 'tag[] unique'}}"},
        "resources",
        f'field "post.tags": {NOT_UNIQUE}tag[]',
        id="resources-unique-many-to-many",
    ),
    pytest.param(
        {"resources": "{project: {task: task cascade}, task: {project: project cascade}}"},
        "resources",
        "resources project, task cascade their deletes in a cycle (a cascade cycle): "
        "deleting one would delete all; drop cascade from one of the references",
        id="resources-cascade-cycle",
    ),
    pytest.param(
        {"resources": {"project": {"task": "task?"}, "task": {"project": "project"}}},
        "resources",
        "resources project, task reference each other in a cycle, which the generated tables "
        "and migrations cannot order; reference one way and filter the other",
        id="resources-reference-cycle",
    ),
    pytest.param(
        {
            "resources": {
                "project": {"name": "str"},
                "task": {"project": "project"},
                "project_task": {"title": "str"},
            }
        },
        "resources",
        'resource "project_task" would name a route function list_project_tasks, as resource '
        '"project" does; rename the resource or the reference field',
        id="resources-route-name-clash",
    ),
    pytest.param(
        {"resources": {"my_session": {"title": "str"}}},
        "resources",
        'resource "my_session" would name a route function list_my_sessions, as the generated '
        "app does",
        id="resources-route-name-of-the-app",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: project, project_id: uuid}}"},
        "resources",
        'field "task.project_id" and field "task.project" both take the name "project_id" '
        "(a reference is read and written as <field>_id, a list as <singular field>_ids); "
        "rename one",
        id="resources-field-collides-with-reference-key",
    ),
    pytest.param(
        {"resources": "{tag: {name: str}, post: {tags: 'tag[]', tag_ids: str}}"},
        "resources",
        'field "post.tag_ids" and field "post.tags" both take the name "tag_ids"',
        id="resources-field-collides-with-list-key",
    ),
    pytest.param(
        {"resources": "task: {tasks: 'task[]'}"},
        "resources",
        'field "task.tasks": a list of tasks needs a name of its own for its links, '
        "as in related_tasks: task[]",
        id="resources-self-list-without-own-name",
    ),
    pytest.param(
        {"resources": "task: {parent: task}"},
        "resources",
        'field "task.parent" is a required reference to its own resource: no first task could '
        "be made; make it optional (task?)",
        id="resources-required-self-reference",
    ),
    pytest.param(
        {"resources": {"tag": {"name": "str"}, "post": {"tags": "tag[]?"}}},
        "resources",
        'field "post.tags": a list of references is never null, only empty; leave out the ?',
        id="resources-optional-list",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: project(80)}}"},
        "resources",
        'field "task.project": a reference takes no arguments; write project',
        id="resources-reference-arguments",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: project = inbox}}"},
        "resources",
        'field "task.project": a reference takes no default; make it optional (project?) instead',
        id="resources-reference-default",
    ),
    pytest.param(
        {"resources": "task: {rank: int cascade}"},
        "resources",
        'field "task.rank": cascade applies to a reference, as in project: project cascade',
        id="resources-cascade-on-non-reference",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: project index}}"},
        "resources",
        'field "task.project": a reference is indexed already; leave out index',
        id="resources-index-on-reference",
    ),
    pytest.param(
        {"resources": "task: {notes: text index}"},
        "resources",
        'field "task.notes": index serves sorts and filters, which text fields take none of; '
        "search indexes text for q, as in notes: text search",
        id="resources-index-on-text",
    ),
    pytest.param(
        {"resources": "task: {code: str unique index}"},
        "resources",
        'field "task.code": a unique field is indexed already by its constraint; leave out index',
        id="resources-index-beside-unique",
    ),
    pytest.param(
        {"resources": "task: {title: str search, title_search: str index}"},
        "resources",
        'field "task.title_search" and field "task.title" both name the index or constraint '
        '"ix_tasks_title_search"; rename one',
        id="resources-index-name-clash",
    ),
    pytest.param(
        {"resources": "{tag: {name: str}, post: {tags: 'tag[] cascade'}}"},
        "resources",
        "cascade applies to a reference, as in project: project cascade; "
        "the links of a list always go with either row",
        id="resources-cascade-on-list",
    ),
    pytest.param(
        {"resources": "task: {rank: int indexed}"},
        "resources",
        'field "task.rank": unknown modifier "indexed"; use unique or cascade or search or '
        "index, after the type and any default",
        id="resources-unknown-modifier",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: {ref: project, nullable: true}}}"},
        "resources",
        "takes the keys type, ref, many, optional, default, unique, on_delete, search, index; "
        "not nullable",
        id="resources-mapping-unknown-key",
    ),
    pytest.param(
        {"resources": "{project: {name: str}, task: {project: {type: str, ref: project}}}"},
        "resources",
        "needs a type (type: str(80)) or a reference (ref: project), one of them",
        id="resources-mapping-type-and-ref",
    ),
    pytest.param(
        {
            "resources": {
                "project": {"name": "str"},
                "task": {"project": {"ref": "project", "on_delete": "restrict"}},
            }
        },
        "resources",
        "takes on_delete: cascade only; without it, deleting a referenced row is refused "
        "(required) or empties the reference (optional)",
        id="resources-mapping-on-delete-not-cascade",
    ),
    *(
        pytest.param(
            {"access_token_minutes": minutes},
            "access_token_minutes",
            "Type a whole number of minutes from 1 to 60",
            id=f"access_token_minutes-{minutes}",
        )
        for minutes in (0, -5, 61)
    ),
    *(
        pytest.param(
            {"refresh_token_days": days},
            "refresh_token_days",
            "Type a whole number of days from 1 to 90",
            id=f"refresh_token_days-{days}",
        )
        for days in (0, 91)
    ),
]


@pytest.mark.parametrize(("answers", "question", "advice"), REFUSED)
def test_bad_answer_is_refused_with_advice(
    copy_template: CopyTemplate, answers: dict[str, Any], question: str, advice: str
) -> None:
    with pytest.raises(ValueError, match=f"^Validation error for question '{question}': ") as error:
        copy_template(answers)
    assert advice in str(error.value)


@pytest.mark.parametrize(
    ("question", "answer"),
    [("jwt_algorithm", "none"), ("jwt_algorithm", "HS512"), ("jwt_library", "authlib")],
)
def test_an_answer_outside_the_choices_is_refused(
    copy_template: CopyTemplate, question: str, answer: str
) -> None:
    with pytest.raises(ValueError, match=f"^Invalid choice for '{question}': '{answer}' is not in"):
        copy_template({question: answer})


def test_list_shorthand_renders_each_resource(copy_template: CopyTemplate) -> None:
    project = copy_template({"resources": "[todo, note]"})

    packages = sorted(path.name for path in (project / "app").iterdir() if path.is_dir())
    assert {"todo", "note"} <= set(packages), packages
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["resources"] == ["todo", "note"]


PASSWORD_URL = "postgres://app:Sup3r-Secret-pw@db.example.com:5432/app"
NEON_POOLED_URL = (
    "postgresql://u:p@ep-cool-1-pooler.eu-central-1.aws.neon.tech/db"
    "?sslmode=require&channel_binding=require"
)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(PASSWORD_URL, id="postgres-scheme"),
        pytest.param(NEON_POOLED_URL, id="neon-pooled"),
        pytest.param("postgresql://app@[::1]:5432/app", id="ipv6-host"),
    ],
)
def test_database_url_goes_to_env_file_only(copy_template: CopyTemplate, url: str) -> None:
    project = copy_template({"database_url": url})

    env_file = (project / ".env").read_text()
    answers_file = (project / ".copier-answers.yml").read_text()
    assert url in env_file
    assert url not in answers_file
    assert "Sup3r-Secret-pw" not in answers_file
    assert "ep-cool-1-pooler" not in answers_file


SECRET_KEY_LINE = re.compile(r"""^SECRET_KEY=["']?(?P<key>[0-9a-f]{64,})["']?$""", re.MULTILINE)


def test_secret_key_is_generated_into_env_file_only(copy_template: CopyTemplate) -> None:
    first, second = copy_template({}), copy_template({})

    keys = []
    for project in (first, second):
        env_file = (project / ".env").read_text()
        match = SECRET_KEY_LINE.search(env_file)
        assert match, f"no SECRET_KEY= line of 64+ hex characters in .env:\n{env_file}"
        assert match["key"] not in (project / ".copier-answers.yml").read_text()
        keys.append(match["key"])
    assert keys[0] != keys[1], "two renders got the same SECRET_KEY"
    # A key drawn once and repeated (as when Jinja folds a constant random call) has few
    # distinct bytes; 32 independent random bytes almost surely have more than 16.
    for key in keys:
        distinct_bytes = {key[i : i + 2] for i in range(0, len(key), 2)}
        assert len(distinct_bytes) > 16, f"SECRET_KEY {key} repeats itself"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_key_pair_render_has_no_secret_key(copy_template: CopyTemplate, algorithm: str) -> None:
    """SECRET_KEY only signs HS256 tokens; a key-pair render has no use for one."""
    project = copy_template({"jwt_algorithm": algorithm})

    assert "SECRET_KEY" not in (project / ".env").read_text()
    assert "secret_key" not in (project / "app" / "core" / "config.py").read_text()
    assert (project / "app" / "core" / "keys.py").is_file()


FERNET_KEYS_LINE = re.compile(
    r"^FIELD_ENCRYPTION_KEYS=\[\"(?P<key>[A-Za-z0-9_-]{43}=)\"\]$", re.MULTILINE
)
ENCRYPTED_RESOURCES = {"resources": {"vault": {"label": "str", "pin": "encrypted(12)?"}}}


def test_field_encryption_key_is_generated_into_env_file_only(
    copy_template: CopyTemplate,
) -> None:
    first, second = copy_template(ENCRYPTED_RESOURCES), copy_template(ENCRYPTED_RESOURCES)

    keys = []
    for project in (first, second):
        env_file = (project / ".env").read_text()
        match = FERNET_KEYS_LINE.search(env_file)
        assert match, f"no FIELD_ENCRYPTION_KEYS line with one Fernet key in .env:\n{env_file}"
        assert match["key"] not in (project / ".copier-answers.yml").read_text()
        # Canonical url-safe base64 of 32 bytes, as Fernet.generate_key() writes it.
        assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(match["key"])) == (
            match["key"].encode()
        )
        keys.append(match["key"])
    assert keys[0] != keys[1], "two renders got the same FIELD_ENCRYPTION_KEYS"


def test_encryption_is_rendered_only_where_a_field_uses_it(copy_template: CopyTemplate) -> None:
    plain = copy_template({})

    assert "FIELD_ENCRYPTION_KEYS" not in (plain / ".env").read_text()
    assert "FIELD_ENCRYPTION_KEYS" not in (plain / ".env.example").read_text()
    assert "cryptography>" not in (plain / "pyproject.toml").read_text()
    assert "rotate-encryption-keys" not in (plain / "app" / "cli.py").read_text()
    assert not (plain / "app" / "core" / "encryption.py").exists()
    assert not (plain / "tests" / "test_encryption.py").exists()


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({"description": 'The "best" API'}, id="description-with-quotes"),
        pytest.param({"description": r"Files under C:\temp"}, id="description-with-backslash"),
        pytest.param({"author_email": "o'brien@example.com"}, id="author_email-with-apostrophe"),
        pytest.param({"author_email": r"a\q@example.com"}, id="author_email-with-backslash"),
    ],
)
def test_free_text_is_refused_or_rendered_intact(
    copy_template: CopyTemplate, answers: dict[str, str]
) -> None:
    """Text answers land in TOML and Python strings: escape them there, or refuse them early."""
    try:
        project = copy_template(answers)
    except ValueError as error:
        if not str(error).startswith("Validation error for question"):
            raise
        return  # refused by a validator: fine

    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    rendered = {
        "description": metadata["description"],
        "author_email": metadata["authors"][0]["email"],
    }
    for question, answer in answers.items():
        assert rendered[question] == answer
    for source in project.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")


def test_question_help_fits_an_80_column_terminal() -> None:
    """Copier prints a question's help as written, its first line after a two-column emoji and
    a space; a longer line runs off the edge of an 80-column terminal."""
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    too_wide = [
        f"{name}: {line}"
        for name, question in questions.items()
        if isinstance(question, dict) and "help" in question
        for number, line in enumerate(question["help"].splitlines())
        if len(line) + (3 if number == 0 else 0) > 80
    ]
    assert not too_wide, "\n".join(too_wide)
