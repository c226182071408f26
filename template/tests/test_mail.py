"""Mail: the templates, SMTP to a real server, the log in development, and the settings."""

import asyncio
import html
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import BackgroundTasks, status
from jinja2 import UndefinedError
from pydantic import ValidationError

from app.core.config import Settings
from app.core.mail import LogTransport, Mail, Mailer, MailerDep, SmtpServer, create_mailer
from tests.helpers import client_for, make_settings, production_settings, running_app
from tests.mailbox import Mailbox, silent_server

SENDER = "Acme Support <support@example.com>"
APP_URL = "https://app.example.com"
# A token with every character a query string must encode, and how the link spells it.
TOKEN = "tok+en/with=odd&chars ok"
ENCODED_TOKEN = "tok%2Ben%2Fwith%3Dodd%26chars%20ok"
RESET_LINK = f"{APP_URL}/reset-password?token={ENCODED_TOKEN}"
# Settings that make production send mail.
PRODUCTION_MAIL: dict[str, Any] = {
    "mail_enabled": True,
    "smtp_url": "smtps://mailer:hunter2@smtp.example.com",
    "mail_from": SENDER,
    "public_app_url": APP_URL,
}
PRODUCTION_ADVICE = "set {}, or MAIL_ENABLED=false to run without mail"


def mail_settings(**overrides: object) -> Settings:
    return make_settings(
        "sqlite:///unused.db", **{"mail_from": SENDER, "public_app_url": APP_URL, **overrides}
    )


def reset_mail(mailer: Mailer, to: str = "ada@example.com") -> Mail:
    link = mailer.link("reset-password", token=TOKEN)
    return mailer.compose("password_reset", to=to, link=link, expires_minutes=30)


def mail_events(records: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "event", "") for r in records.records if r.name == "app.core.mail"]


def assert_no_token_logged(records: pytest.LogCaptureFixture) -> None:
    for text in (records.text, *(r.getMessage() for r in records.records)):
        assert ENCODED_TOKEN not in text
        assert "reset-password" not in text


# --- Over SMTP, to a real server --------------------------------------------------------------


async def test_a_mail_arrives_with_a_text_and_an_html_part(
    mailbox: Mailbox, app_records: pytest.LogCaptureFixture
) -> None:
    settings = mail_settings(smtp_url=mailbox.url)
    mailer = create_mailer(settings)

    await mailer.send(reset_mail(mailer))

    (mail,) = mailbox.received
    assert (mail.sender, mail.recipients) == ("support@example.com", ["ada@example.com"])
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == "ada@example.com"
    assert mail.message["Subject"] == f"Reset your {settings.project_name} password"
    assert mail.message["Message-ID"].endswith("@example.com>")
    text = mail.part("text/plain")
    assert RESET_LINK in text.splitlines()
    assert "within 30 minutes" in text
    assert f'<a href="{html.escape(RESET_LINK)}">' in mail.part("text/html")
    # The log has the Message-ID, to find the mail at the provider; not the address or the link.
    assert mail_events(app_records) == ["mail.sent"]
    assert mail.message["Message-ID"] in app_records.text
    assert "ada@example.com" not in app_records.text
    assert_no_token_logged(app_records)


async def test_a_route_sends_after_its_answer_through_the_apps_mailer(
    mailbox: Mailbox, database_url: str
) -> None:
    settings = make_settings(database_url, smtp_url=mailbox.url, public_app_url=APP_URL)
    async with running_app(settings) as app, client_for(app) as client:

        @app.post("/send-a-reset", status_code=status.HTTP_202_ACCEPTED)
        async def send_a_reset(mailer: MailerDep, tasks: BackgroundTasks) -> None:
            tasks.add_task(mailer.send, reset_mail(mailer, to="grace@example.com"))

        r = await client.post("/send-a-reset")

    assert r.status_code == 202, r.text
    (mail,) = mailbox.received
    assert mail.recipients == ["grace@example.com"]
    assert RESET_LINK in mail.part("text/plain")


async def test_the_url_credentials_are_percent_decoded(mailbox: Mailbox) -> None:
    url = mailbox.url_with_login("ada%40example.com:p%40ss%3Aw%2Frd")
    mailer = create_mailer(mail_settings(smtp_url=url))

    await mailer.send(reset_mail(mailer))

    assert mailbox.logins == [("ada@example.com", "p@ss:w/rd")]
    assert len(mailbox.received) == 1


async def test_smtp_never_falls_back_to_plain_text(
    mailbox: Mailbox, app_records: pytest.LogCaptureFixture
) -> None:
    """smtp:// requires STARTTLS: a server that offers none gets no mail, and no password."""
    url = f"smtp://mailer:hunter2@127.0.0.1:{mailbox.port}"
    mailer = create_mailer(mail_settings(smtp_url=url))

    await mailer.send(reset_mail(mailer))

    assert mailbox.received == []
    assert mailbox.logins == []
    assert mail_events(app_records) == ["mail.failed"]
    assert_no_token_logged(app_records)


@asynccontextmanager
async def first_bytes_listener() -> AsyncIterator[tuple[int, asyncio.Future[bytes]]]:
    """A server that says nothing and records the first bytes the client sends."""
    first: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first.set_result(await reader.read(3))
        writer.close()

    server = await asyncio.start_server(listen, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], first
    finally:
        server.close()
        await server.wait_closed()


async def test_smtps_speaks_tls_from_the_first_byte(app_records: pytest.LogCaptureFixture) -> None:
    async with first_bytes_listener() as (port, first):
        mailer = create_mailer(mail_settings(smtp_url=f"smtps://127.0.0.1:{port}"))
        await mailer.send(reset_mail(mailer))

    # A TLS handshake record (22), TLS 1.x: before any greeting, no plain SMTP was said.
    assert (await first)[:2] == b"\x16\x03"
    assert mail_events(app_records) == ["mail.failed"]


async def test_a_silent_server_is_cut_off_and_the_failure_logged_without_the_token(
    app_records: pytest.LogCaptureFixture,
) -> None:
    timeout = 0.5
    async with silent_server() as port:
        url = f"smtp://127.0.0.1:{port}?starttls=false"
        mailer = create_mailer(mail_settings(smtp_url=url, mail_timeout=timeout))
        started = time.monotonic()
        await mailer.send(reset_mail(mailer))
        waited = time.monotonic() - started

    assert waited < timeout + 2
    (failure,) = [r for r in app_records.records if r.name == "app.core.mail"]
    assert failure.getMessage() == (
        "Mail password_reset to a recipient at example.com failed: TimeoutError"
    )
    assert getattr(failure, "event", None) == "mail.failed"
    assert_no_token_logged(app_records)


async def test_a_refused_connection_is_logged_without_the_token(
    app_records: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on port 1.
    mailer = create_mailer(mail_settings(smtp_url="smtp://127.0.0.1:1?starttls=false"))

    await mailer.send(reset_mail(mailer))

    assert mail_events(app_records) == ["mail.failed"]
    assert_no_token_logged(app_records)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://smtp.example.com", ("smtp.example.com", 587, None, None, "STARTTLS")),
        ("smtps://smtp.example.com", ("smtp.example.com", 465, None, None, "TLS")),
        ("smtp://a:b@smtp.example.com:2525", ("smtp.example.com", 2525, "a", "b", "STARTTLS")),
        (
            "smtps://apikey:s%2Fcr%40t@smtp.example.com:4650",
            ("smtp.example.com", 4650, "apikey", "s/cr@t", "TLS"),
        ),
        ("smtp://127.0.0.1:1025?starttls=false", ("127.0.0.1", 1025, None, None, "plain")),
        ("smtp://[::1]:25?starttls=false", ("::1", 25, None, None, "plain")),
    ],
)
def test_the_url_chooses_server_login_and_tls(url: str, expected: tuple[object, ...]) -> None:
    server = SmtpServer.from_url(url)

    assert not (server.use_tls and server.start_tls)
    tls = "TLS" if server.use_tls else "STARTTLS" if server.start_tls else "plain"
    assert (server.hostname, server.port, server.username, server.password, tls) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mailer:hunter2@smtp.example.com",
        "smtp://mailer:hunter2@",
        "smtp://mailer:hunter2@smtp.example.com:port",
        "smtp://mailer:hunter2@smtp.example.com/path",
        "smtp://mailer:hunter2@smtp.example.com?tls=no",
        "smtps://mailer:hunter2@smtp.example.com?starttls=false",
    ],
)
def test_a_bad_smtp_url_stops_the_start_without_being_shown(url: str) -> None:
    with pytest.raises(ValidationError, match="SMTP_URL") as refusal:
        mail_settings(smtp_url=url)

    assert "hunter2" not in str(refusal.value)


# --- Without SMTP_URL, or with mail off -------------------------------------------------------


@pytest.mark.parametrize("environment", ["development", "test"])
async def test_without_smtp_url_the_mail_goes_to_the_log(
    environment: str, app_records: pytest.LogCaptureFixture
) -> None:
    mailer = create_mailer(mail_settings(environment=environment))
    assert isinstance(mailer.transport, LogTransport)

    await mailer.send(reset_mail(mailer))

    (logged,) = [r for r in app_records.records if r.name == "app.core.mail"]
    assert getattr(logged, "event", None) == "mail.logged"
    assert "ada@example.com" in logged.getMessage()
    assert RESET_LINK in logged.getMessage().splitlines()


async def test_mail_switched_off_sends_and_logs_nothing_of_it(
    mailbox: Mailbox, app_records: pytest.LogCaptureFixture
) -> None:
    mailer = create_mailer(mail_settings(mail_enabled=False, smtp_url=mailbox.url))

    await mailer.send(reset_mail(mailer))

    assert mailbox.received == []
    assert mail_events(app_records) == ["mail.off"]
    assert_no_token_logged(app_records)


# --- Production's settings --------------------------------------------------------------------


def test_production_refuses_to_start_without_a_way_to_send_mail() -> None:
    with pytest.raises(ValidationError) as refusal:
        production_settings(mail_enabled=True)

    assert PRODUCTION_ADVICE.format("SMTP_URL, MAIL_FROM, PUBLIC_APP_URL") in str(refusal.value)


@pytest.mark.parametrize("unset", ["smtp_url", "mail_from", "public_app_url"])
def test_production_names_each_missing_mail_setting(unset: str) -> None:
    settings = {name: value for name, value in PRODUCTION_MAIL.items() if name != unset}

    with pytest.raises(ValidationError) as refusal:
        production_settings(**settings)

    assert PRODUCTION_ADVICE.format(unset.upper()) in str(refusal.value)


def test_production_sends_mail_over_smtp_once_configured() -> None:
    mailer = create_mailer(production_settings(**PRODUCTION_MAIL))

    assert mailer.transport is not None
    assert not isinstance(mailer.transport, LogTransport)


def test_production_reads_the_mail_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set in the environment, not passed in, the mail settings count as set all the same."""
    for name, value in PRODUCTION_MAIL.items():
        monkeypatch.setenv(name.upper(), str(value))

    settings = make_settings("sqlite:///unused.db", environment="production")

    assert str(settings.mail_from) == SENDER


def test_production_can_run_without_mail() -> None:
    settings = production_settings(mail_enabled=False)

    assert create_mailer(settings).transport is None


def test_production_links_must_be_https() -> None:
    with pytest.raises(ValidationError, match="PUBLIC_APP_URL must be https in production"):
        production_settings(**{**PRODUCTION_MAIL, "public_app_url": "http://app.example.com"})


@pytest.mark.parametrize(
    "url", ["https://app.example.com/?from=mail", "https://app.example.com/#/"]
)
def test_the_public_app_url_is_a_base_without_query_or_fragment(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_APP_URL is the client app's base URL"):
        mail_settings(public_app_url=url)


# --- Links and templates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "query", "link"),
    [
        (APP_URL, "reset-password", {"token": TOKEN}, RESET_LINK),
        (
            "https://example.com/app/",
            "/verify-email",
            {"token": "t"},
            "https://example.com/app/verify-email?token=t",
        ),
        ("http://localhost:3000", "account", {}, "http://localhost:3000/account"),
    ],
)
def test_links_point_into_the_client_app(
    base: str, path: str, query: dict[str, str], link: str
) -> None:
    mailer = create_mailer(mail_settings(public_app_url=base))

    assert mailer.link(path, **query) == link


TEMPLATE_VALUES = {
    "password_reset": {"link": RESET_LINK, "expires_minutes": 30},
    "verify_email": {"link": f"{APP_URL}/verify-email?token=v"},
    "confirm_email_change": {"link": f"{APP_URL}/confirm-email?token=c"},
    "email_changed": {"new_email": "new@example.com"},
}


@pytest.mark.parametrize(("template", "values"), list(TEMPLATE_VALUES.items()))
def test_each_template_renders_its_values_in_both_parts(
    template: str, values: dict[str, object]
) -> None:
    settings = mail_settings()
    mail = create_mailer(settings).compose(template, to="ada@example.com", **values)

    assert mail.subject
    assert "\n" not in mail.subject
    assert mail.html.startswith("<!doctype html>")
    assert settings.project_name in mail.subject
    for value in values.values():
        assert str(value) in mail.text
        assert html.escape(str(value)) in mail.html


def test_html_parts_escape_every_value() -> None:
    mailer = create_mailer(mail_settings())

    mail = mailer.compose("email_changed", to="ada@example.com", new_email="<b>eve</b>@evil.test")

    assert "&lt;b&gt;eve&lt;/b&gt;@evil.test" in mail.html
    assert "<b>eve" not in mail.html
    assert "<b>eve</b>@evil.test" in mail.text


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    mailer = create_mailer(mail_settings())

    with pytest.raises(UndefinedError, match="expires_minutes"):
        mailer.compose("password_reset", to="ada@example.com", link=RESET_LINK)
