"""What every table shares: stable constraint names, UUID keys and UTC timestamps; and what
every schema of the API shares."""

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy import Insert, Row, insert, inspect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

# Stable constraint names on every database, so Alembic revisions stay identical across them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Schema(SQLModel):
    """A schema the API reads or writes, never a table: built by Pydantic alone.

    SQLModel's own `__new__` and `__init__` give a table's row its SQLAlchemy state, so a table
    never derives from this. Through them Pydantic hands every dict it validates (a request
    body, a row) to `__init__` in Python, and every object it builds to `__new__`; without
    them, a list of 20 rows read as dicts costs 12% less (docs/performance.md).
    """

    def __new__(cls, *_args: Any, **_kwargs: Any) -> Self:
        return object.__new__(cls)

    __init__ = BaseModel.__init__


# Response models: a field with a default is in every answer all the same, so the OpenAPI
# document marks it required and a generated client reads it without a None check.
RESPONSE = SQLModel.model_config | {"json_schema_serialization_defaults_required": True}

# Request bodies refuse fields they do not declare (no mass assignment) instead of ignoring them.
FORBID_EXTRA = SQLModel.model_config | {"extra": "forbid"}


def utcnow() -> datetime:
    return datetime.now(UTC)


@cache
def _inserting(model: type[SQLModel]) -> Insert:
    table = inspect(model).local_table
    return insert(table).returning(*table.columns)


async def insert_row(
    connection: AsyncConnection, model: type[SQLModel], values: Mapping[str, Any]
) -> Row[Any]:
    """Insert one row of `model` with `values`, the fields' defaults (the id, the timestamps)
    filling in the rest, and return it as stored. For a table no write of which a constraint
    refuses: building and flushing the ORM object cost a create 19% (docs/performance.md)."""
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if name not in values and not field.is_required()
    }
    return (await connection.execute(_inserting(model), defaults | dict(values))).one()
