"""The audit log: who changed what about an account, on whom, when and from where."""

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID, uuid4

from sqlalchemy import JSON, Column, Enum, Index
from sqlmodel import Field, SQLModel

from app.core.models import RESPONSE, Schema, utcnow
from app.core.pagination import ListQuery, Page, sort_param
from app.core.types import Instant

# Room for any IPv6 address with a zone; a longer value (a proxy's odd header) is cut to it.
MAX_ADDRESS_LENGTH = 64
# What `detail` holds: a few facts such as {"from": "user", "to": "admin"}, never a secret.
Detail = dict[str, str | int | bool]


class AuditEventType(StrEnum):
    ROLE_CHANGED = "role_changed"
    ACTIVATION_CHANGED = "activation_changed"
    EMAIL_CHANGED = "email_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event's name, not a password)
    PASSWORD_RESET = "password_reset"  # noqa: S105
    SESSIONS_ENDED = "sessions_ended"
    LOCKED_OUT = "locked_out"


# Table.


class AuditEvent(SQLModel, table=True):
    """One change, written in the transaction of the change itself: both or neither.

    No foreign keys: deleting a user neither deletes nor rewrites the log, which keeps their id.
    `actor_id` is None where no one signed in acted (a lock-out, a reused refresh token).
    """

    __tablename__ = "audit_events"
    # Each filter with the list's order, so a filtered page reads its rows from one index.
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_actor_id", "actor_id", "occurred_at"),
        Index("ix_audit_events_target_id", "target_id", "occurred_at"),
        Index("ix_audit_events_event", "event", "occurred_at"),
    )

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow)
    actor_id: UUID | None = None
    event: AuditEventType = Field(
        sa_column=Column(
            Enum(
                AuditEventType,
                native_enum=False,
                length=32,
                values_callable=lambda events: [e.value for e in events],
            ),
            nullable=False,
        ),
    )
    target_id: UUID | None = None
    client_address: str | None = Field(default=None, max_length=MAX_ADDRESS_LENGTH)
    detail: Detail | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))


# Schemas.


class AuditEventPublic(Schema):
    """A row of the audit log as admins read it."""

    model_config = RESPONSE

    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    event: AuditEventType
    target_id: UUID | None
    client_address: str | None
    detail: Detail | None


AuditSort = Literal["occurred_at", "-occurred_at"]


class AuditQuery(ListQuery):
    """The audit list's parameters: bounds, newest or oldest first, and the filters."""

    sort: AuditSort = sort_param(AuditSort, "-occurred_at")
    actor_id: list[UUID] | None = Field(default=None, max_length=100)
    target_id: list[UUID] | None = Field(default=None, max_length=100)
    event: list[AuditEventType] | None = Field(default=None, max_length=100)
    occurred_at__gt: Instant | None = None
    occurred_at__gte: Instant | None = None
    occurred_at__lt: Instant | None = None
    occurred_at__lte: Instant | None = None


AuditEventPage = Page[AuditEventPublic]
