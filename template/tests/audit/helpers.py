"""What the audit tests share: the client's address, the settings and the rows of the log."""

from typing import Any
from uuid import UUID

from fastapi import FastAPI
from sqlmodel import col, select

from app.audit.models import AuditEvent, AuditEventType, Detail
from app.core.config import Settings
from tests.helpers import make_settings
from tests.mailbox import Mailbox

APP_URL = "https://app.example.com"
# The client as the trusted proxy (the test client's 127.0.0.1) names it.
CLIENT = "203.0.113.7"
# A row as (event, actor, target, address, detail).
Row = tuple[AuditEventType, UUID | None, UUID | None, str | None, Detail | None]


def audit_settings(database_url: str, mailbox: Mailbox, **overrides: Any) -> Settings:
    """Mail to a real SMTP server (its links carry the tokens), behind a trusted proxy."""
    return make_settings(
        database_url,
        smtp_url=mailbox.url,
        public_app_url=APP_URL,
        trusted_proxies=["127.0.0.1"],
        **overrides,
    )


async def audit_rows(application: FastAPI) -> list[Row]:
    """Every row of the log, oldest first."""
    async with application.state.sessionmaker() as session:
        statement = select(AuditEvent).order_by(col(AuditEvent.occurred_at), col(AuditEvent.id))
        return [
            (row.event, row.actor_id, row.target_id, row.client_address, row.detail)
            for row in await session.exec(statement)
        ]
