"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), and the mails it received.

It runs in the test's own event loop on a port the system picks, so tests never race for a port
and never reach another machine. It speaks plain SMTP, so the app reaches it through
`smtp://127.0.0.1:PORT?starttls=false` (`Mailbox.url`).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One mail as the server took it: the envelope, and the message parsed."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, content_type: str) -> str:
        """The text of the `text/plain` or `text/html` part."""
        subtype = content_type.removeprefix("text/")
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no {content_type} part"
        assert body.get_content_type() == content_type
        text: str = body.get_content()
        return text


@dataclass
class Mailbox:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # (login, password) of each AUTH the server accepted.
    logins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

    def url_with_login(self, userinfo: str) -> str:
        """`url` with `userinfo` (user:password, as a URL spells it) before the host."""
        return f"smtp://{userinfo}@127.0.0.1:{self.port}?starttls=false"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook)
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        message = BytesParser(policy=default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from or "", envelope.rcpt_tos, message))
        return "250 OK"

    def authenticate(
        self,
        _server: SMTP,
        _session: Session,
        _envelope: Envelope,
        _mechanism: str,
        credentials: Any,
    ) -> AuthResult:
        """aiosmtpd's authenticator: takes any login, and keeps it for the test to read."""
        assert isinstance(credentials, LoginPassword)
        self.logins.append((credentials.login.decode(), credentials.password.decode()))
        return AuthResult(success=True)


@asynccontextmanager
async def running_mailbox() -> AsyncIterator[Mailbox]:
    """An SMTP server on a free loopback port that accepts every mail (and any login)."""
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            mailbox,
            hostname="mailbox.test",
            authenticator=mailbox.authenticate,
            # Plain SMTP on loopback: nothing leaves this machine.
            auth_require_tls=False,
            loop=loop,
        ),
        "127.0.0.1",
        0,
    )
    mailbox.port = server.sockets[0].getsockname()[1]
    try:
        yield mailbox
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A server that accepts connections and never says a word; yields its port."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()
