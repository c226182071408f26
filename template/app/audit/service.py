"""Writing the audit log and reading it. A row is only ever added to the session of the change it
records, which commits both or neither: no function here commits."""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import (
    MAX_ADDRESS_LENGTH,
    AuditEvent,
    AuditEventPublic,
    AuditEventType,
    AuditQuery,
    Detail,
)
from app.core.pagination import Page, paginate_rows


def record(
    *,
    session: AsyncSession,
    event: AuditEventType,
    actor_id: UUID | None,
    target_id: UUID | None,
    client_address: str | None,
    detail: Detail | None = None,
) -> AuditEvent:
    """Add the row of `event` to `session`; the caller's commit writes it with the change.

    `detail` holds facts such as a new role: never a password, token, hash or email.
    """
    row = AuditEvent(
        event=event,
        actor_id=actor_id,
        target_id=target_id,
        client_address=client_address[:MAX_ADDRESS_LENGTH] if client_address else None,
        detail=detail,
    )
    session.add(row)
    return row


async def list_events(*, connection: AsyncConnection, query: AuditQuery) -> Page[AuditEventPublic]:
    return await paginate_rows(connection, AuditEvent, query, AuditEventPublic)
