"""Log lines as text or JSON, and the auth events they carry."""

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.core.logging import HANDLER_NAME, EscapingFormatter, JsonFormatter, configure_logging
from tests.helpers import Account, SignInAgain, login
from tests.tokens import KEY_SETTINGS, claims_of

NEW_PASSWORD = "a different long passphrase 42"
# Long enough for the schema, refused by the password policy.
WEAK = "password1234"


def record(message: str, *args: object, **attributes: object) -> logging.LogRecord:
    entry = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(correlation_id="abc123", **attributes)
    return entry


def test_json_lines_hold_the_request_id_event_and_an_escaped_message() -> None:
    line = JsonFormatter().format(record("user %s", "eve\nforged", event="login.failed"))

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "user eve\nforged"
    assert (entry["request_id"], entry["event"], entry["level"]) == (
        "abc123",
        "login.failed",
        "INFO",
    )


@pytest.fixture
def text_lines_after() -> Iterator[None]:
    """Text lines again once the test is over."""
    yield
    configure_logging("INFO")


@pytest.mark.usefixtures("text_lines_after")
def test_the_setting_switches_between_text_and_json() -> None:
    """Ours and the request-id middleware's lines alike, so a JSON log holds JSON only."""

    def formatters() -> list[type[logging.Formatter | None]]:
        loggers = [logging.getLogger(name) for name in ("app", "asgi_correlation_id")]
        handlers = [handler for logger in loggers for handler in logger.handlers]
        return [type(h.formatter) for h in handlers if h.name == HANDLER_NAME]

    configure_logging("INFO", json_lines=True)
    assert formatters() == [JsonFormatter, JsonFormatter]

    configure_logging("INFO")
    assert formatters() == [EscapingFormatter, EscapingFormatter]


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.event for r in caplog.records if hasattr(r, "event")]


async def test_sign_in_and_refresh_reuse_are_logged_as_events(
    client: httpx.AsyncClient, user: Account, app_records: pytest.LogCaptureFixture
) -> None:
    await login(client, user.email, "a wrong password")
    tokens = (await login(client, user.email)).json()
    for _ in range(2):
        await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    assert events(app_records) == ["login.failed", "login.succeeded", "refresh.reused"]


async def test_logout_password_session_and_role_changes_are_logged_as_events(
    client: httpx.AsyncClient,
    user: Account,
    admin: Account,
    sign_in_again: SignInAgain,
    app_records: pytest.LogCaptureFixture,
) -> None:
    laptop = await sign_in_again(user)
    sid = claims_of(laptop.access_token)["sid"]
    end = {"current_password": user.password, "session_ids": [sid]}
    await client.post("/api/v1/users/me/sessions/end", json=end, headers=user.headers)
    change = {"current_password": user.password, "new_password": NEW_PASSWORD}
    await client.post("/api/v1/users/me/password", json=change, headers=user.headers)
    await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    await client.post(
        "/api/v1/auth/logout", json={"refresh_token": admin.refresh_token}, headers=admin.headers
    )

    assert events(app_records) == ["sessions.ended", "password.changed", "user.changed", "logout"]


async def test_no_password_token_or_key_reaches_any_log(
    client: httpx.AsyncClient, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything the app and its libraries log at DEBUG during the auth flows, tracebacks too."""
    with caplog.at_level(logging.DEBUG):
        await client.post(
            "/api/v1/auth/register", json={"email": "x@example.com", "password": WEAK}
        )
        await login(client, user.email, "a wrong password")
        tokens = (await login(client, user.email)).json()
        for _ in range(2):
            await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
        change = {"current_password": user.password, "new_password": NEW_PASSWORD}
        await client.post("/api/v1/users/me/password", json=change, headers=user.headers)

    logged = caplog.text + "".join(str(r.args) + str(r.__dict__) for r in caplog.records)
    secrets = [
        user.password,
        "a wrong password",
        WEAK,
        NEW_PASSWORD,
        user.access_token,
        user.refresh_token,
        tokens["access_token"],
        tokens["refresh_token"],
        *KEY_SETTINGS.values(),
    ]
    assert caplog.records, "nothing was logged, so nothing was checked"
    assert [secret for secret in secrets if secret in logged] == []
