"""The operator commands that make the first admin, run against the test database."""

import io

import httpx
import pytest
from pydantic import ValidationError

from app import cli
from app.core.config import Settings
from app.core.errors import AppError, ConflictError, NotFoundError
from tests.helpers import PASSWORD, Account, bearer, login

ADMIN_USERS = "/api/v1/admin/users"


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the command reads with --password-stdin."""
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdin", buffer)
    return buffer


def type_in(stdin: io.StringIO, text: str) -> None:
    stdin.write(text)
    stdin.seek(0)


async def test_create_admin(
    client: httpx.AsyncClient, settings: Settings, stdin: io.StringIO
) -> None:
    type_in(stdin, f"{PASSWORD}\n")

    output = await cli.run(["create-admin", "Root@Example.com", "--password-stdin"], settings)

    assert output == "Created admin root@example.com"
    signed_in = await login(client, "root@example.com")
    assert signed_in.status_code == 200, signed_in.text
    r = await client.get(ADMIN_USERS, headers=bearer(signed_in.json()["access_token"]))
    assert r.status_code == 200, r.text
    assert [(user["role"], user["email_verified"]) for user in r.json()["items"]] == [
        ("admin", True)
    ]


async def test_create_admin_asks_twice_without_stdin(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))

    output = await cli.run(["create-admin", "root@example.com"], settings)

    assert output == "Created admin root@example.com"
    assert (await login(client, "root@example.com")).status_code == 200


async def test_create_admin_refuses_differing_passwords(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))

    with pytest.raises(AppError, match="The passwords differ"):
        await cli.run(["create-admin", "root@example.com"], settings)


async def test_create_admin_refuses_a_taken_email(
    user: Account, settings: Settings, stdin: io.StringIO
) -> None:
    type_in(stdin, f"{PASSWORD}\n")

    with pytest.raises(ConflictError):
        await cli.run(["create-admin", user.email, "--password-stdin"], settings)


async def test_create_admin_validates_the_password(
    client: httpx.AsyncClient, settings: Settings, stdin: io.StringIO
) -> None:
    type_in(stdin, "short\n")

    with pytest.raises(ValidationError, match="password"):
        await cli.run(["create-admin", "root@example.com", "--password-stdin"], settings)

    assert (await login(client, "root@example.com", "short")).status_code == 401


async def test_promote(client: httpx.AsyncClient, user: Account, settings: Settings) -> None:
    assert (await client.get(ADMIN_USERS, headers=user.headers)).status_code == 403

    output = await cli.run(["promote", user.email.upper()], settings)

    assert output == f"{user.email} is now an admin"
    r = await client.get(ADMIN_USERS, headers=user.headers)
    assert r.status_code == 200, r.text


async def test_promote_an_unknown_user(client: httpx.AsyncClient, settings: Settings) -> None:
    with pytest.raises(NotFoundError) as failure:
        await cli.run(["promote", "nobody@example.com"], settings)

    assert failure.value.detail == "No user with the email 'nobody@example.com'."


# main() turns failures into messages and exit codes, with the same test database.


@pytest.fixture
def main_settings(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Point main() at the test database (the app fixture made its tables)."""
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return settings


def test_main_succeeds(
    main_settings: Settings, stdin: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    type_in(stdin, f"{PASSWORD}\n")

    code = cli.main(["create-admin", "root@example.com", "--password-stdin"])

    assert code == 0
    assert capsys.readouterr().out == "Created admin root@example.com\n"


def test_main_reports_invalid_input(
    main_settings: Settings, stdin: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    type_in(stdin, "short\n")

    code = cli.main(["create-admin", "root@example.com", "--password-stdin"])

    assert code == 2
    assert capsys.readouterr().err == (
        "error: password: String should have at least 12 characters\n"
    )


def test_main_reports_a_refusal(
    main_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["promote", "nobody@example.com"])

    assert code == 1
    assert capsys.readouterr().err == "error: No user with the email 'nobody@example.com'.\n"


def test_main_needs_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])

    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err
