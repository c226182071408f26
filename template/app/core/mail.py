"""Mail: the project's templates rendered to a text and an HTML part, sent by SMTP or logged.

`SMTP_URL` chooses the transport. Without it, development and tests write each mail to the log,
links and all, and production refuses to start unless `MAIL_ENABLED=false`. A route composes a
mail while it handles the request and sends it after the response:

    mail = mailer.compose(
        "password_reset",
        to=user.email,
        link=mailer.link("reset-password", token=token),
        expires_minutes=30,
    )
    background_tasks.add_task(mailer.send, mail)

The templates live in app/mail_templates, one folder per mail; they are the project's own.
"""

# `Settings` is imported for type checking only (app.core.config imports this module).
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, Self
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import aiosmtplib
from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    from app.core.config import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "mail_templates"
# What a URL may say after `?`: plain SMTP, for a relay on this host or a local mail catcher.
PLAIN_SMTP = [("starttls", "false")]
URL_ADVICE = "e.g. smtps://user:password@smtp.example.com:465 or smtp://...:587 (STARTTLS)"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send, read from `SMTP_URL`."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool  # smtp://: STARTTLS before anything else, refused if the server lacks it

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Parse `smtp[s]://[user[:password]@]host[:port]`; errors never repeat the URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, {URL_ADVICE}")
        if not parts.hostname:
            raise ValueError(f"SMTP_URL needs a host, {URL_ADVICE}")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError(f"SMTP_URL has no path, {URL_ADVICE}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        if query not in ([], PLAIN_SMTP) or (query and parts.scheme == "smtps"):
            raise ValueError("SMTP_URL takes no query but ?starttls=false after smtp://")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"SMTP_URL's port must be a number, {URL_ADVICE}") from None
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=not implicit_tls and not query,
        )


class Transport(Protocol):
    """Where a finished message goes; raises when it could not be handed over."""

    async def deliver(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """One connection per mail, cut off after `timeout` seconds however far it got."""

    def __init__(self, server: SmtpServer, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout

    async def deliver(self, message: EmailMessage) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.server.hostname,
            port=self.server.port,
            username=self.server.username,
            password=self.server.password,
            use_tls=self.server.use_tls,
            start_tls=self.server.start_tls,
        )
        try:
            # The timeout bounds the whole exchange: a server that answers each command just
            # in time cannot stretch it.
            async with asyncio.timeout(self.timeout):
                await client.connect()
                await client.send_message(message)
        finally:
            # No QUIT: a server that has accepted the mail keeps it (RFC 5321), and waiting for
            # its goodbye could turn a delivered mail into a reported failure.
            client.close()
        # The Message-ID finds the mail in the provider's logs; the address stays out of ours.
        logger.info(
            "Mail %s accepted by %s for a recipient at %s",
            message["Message-ID"],
            self.server.hostname,
            str(message["To"]).rpartition("@")[2],
            extra={"event": "mail.sent"},
        )


class LogTransport:
    """Development and tests without `SMTP_URL`: the mail goes to the log, its links with it."""

    async def deliver(self, message: EmailMessage) -> None:
        text = message.get_body(preferencelist=("plain",))
        logger.info(
            "Mail to %s (not sent: SMTP_URL is not set), subject %r:\n%s",
            message["To"],
            message["Subject"],
            text.get_content() if text is not None else "",
            extra={"event": "mail.logged"},
        )


@dataclass(frozen=True)
class Mail:
    """A rendered mail, ready for `Mailer.send`."""

    template: str  # its name, which the log shows instead of the content
    to: str
    subject: str
    text: str
    html: str

    @property
    def recipient_domain(self) -> str:
        return self.to.rpartition("@")[2]


class Mailer:
    """Renders the mail templates and hands the result to the transport (None: mail is off)."""

    def __init__(
        self,
        *,
        transport: Transport | None,
        sender: Address,
        public_app_url: str,
        project_name: str,
    ) -> None:
        self.transport = transport
        self.sender = sender
        self.public_app_url = public_app_url.rstrip("/")
        self.project_name = project_name
        # HTML parts escape every value; a missing value is an error, never an empty link.
        self._templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def link(self, path: str, **query: str) -> str:
        """A link into the client app: `link("reset-password", token=t)` is
        `{PUBLIC_APP_URL}/reset-password?token=t`, each value percent-encoded."""
        url = f"{self.public_app_url}/{path.lstrip('/')}"
        return f"{url}?{urlencode(query, quote_via=quote)}" if query else url

    def compose(self, template: str, *, to: str, **context: object) -> Mail:
        """Render app/mail_templates/<template>/: subject.txt, body.txt and body.html."""

        def render(name: str) -> str:
            page = self._templates.get_template(f"{template}/{name}")
            return page.render(context, project_name=self.project_name)

        return Mail(
            template=template,
            to=to,
            subject=" ".join(render("subject.txt").split()),
            text=render("body.txt"),
            html=render("body.html"),
        )

    async def send(self, mail: Mail) -> None:
        """Deliver `mail`. A failure is logged without the content (it holds tokens), never
        raised: the caller has usually answered already."""
        if self.transport is None:
            logger.info(
                "Mail %s to a recipient at %s not sent: MAIL_ENABLED is false",
                mail.template,
                mail.recipient_domain,
                extra={"event": "mail.off"},
            )
            return
        try:
            await self.transport.deliver(self.message(mail))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # The class and SMTP code say what went wrong; the message could quote the mail.
            reason = type(error).__name__
            if isinstance(error, aiosmtplib.SMTPResponseException):
                reason = f"{reason} {error.code}"
            logger.warning(
                "Mail %s to a recipient at %s failed: %s",
                mail.template,
                mail.recipient_domain,
                reason,
                extra={"event": "mail.failed"},
            )

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(usegmt=True)
        # A domain of our own: without one, make_msgid asks DNS for this host's name.
        message["Message-ID"] = make_msgid(domain=self.sender.domain)
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message


def create_mailer(settings: Settings) -> Mailer:
    transport: Transport | None = None
    if settings.mail_enabled:
        url = settings.smtp_url.get_secret_value()
        if url:
            transport = SmtpTransport(SmtpServer.from_url(url), timeout=settings.mail_timeout)
        else:
            # Settings refuse this in production.
            transport = LogTransport()
    return Mailer(
        transport=transport,
        sender=Address(settings.mail_from.name, addr_spec=settings.mail_from.email),
        public_app_url=str(settings.public_app_url),
        project_name=settings.project_name,
    )


async def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]
