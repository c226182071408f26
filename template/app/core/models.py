"""What every table shares: stable constraint names, UUID keys and UTC timestamps; and what
every schema of the API shares."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, Protocol, Self, cast
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Insert, Row, bindparam, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import SQLModel

from app.core.errors import AuthenticationError

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


class CallerCheck(Protocol):
    """A check of the caller made by the statement that reads or writes their rows, not by one
    before it: a statement less a request (docs/performance.md). `column` is a scalar subquery
    of the values in `params`, NULL when it finds no row; `admitted` is the condition on it that
    lets the caller in, and `admit` raises unless its value does."""

    @property
    def column(self) -> ScalarSelect[Any]: ...

    @property
    def admitted(self) -> ColumnElement[bool]: ...

    @property
    def params(self) -> Mapping[str, Any]: ...

    def admit(self, value: Any) -> None: ...


class Owner(Protocol):
    """Whose rows a statement reads or writes (`owner_id`), and the check of the caller that it
    has still to make, if any."""

    @property
    def id(self) -> UUID: ...

    @property
    def check(self) -> CallerCheck | None: ...


@dataclass(frozen=True)
class _Inserting:
    """How `insert_row` fills a row of one table: built once per model."""

    statement: Insert
    defaults: dict[str, Any]
    factories: dict[str, Callable[[], Any]]


@cache
def _inserting(model: type[SQLModel]) -> _Inserting:
    table = inspect(model).local_table
    optional = {name: f for name, f in model.model_fields.items() if not f.is_required()}
    return _Inserting(
        statement=insert(table).returning(*table.columns),
        # Bound as parameters only, never changed: one value serves every row.
        defaults={name: f.default for name, f in optional.items() if f.default_factory is None},
        factories={
            name: cast(Callable[[], Any], f.default_factory)
            for name, f in optional.items()
            if f.default_factory is not None
        },
    )


@lru_cache(maxsize=256)
def _insert_if(
    model: type[SQLModel], names: tuple[str, ...], admitted: ColumnElement[bool]
) -> Insert:
    """`INSERT ... SELECT` of the values of `names`, which writes nothing unless `admitted`.
    Each value is the parameter `value_<name>`, so no column takes a parameter of the check."""
    table = inspect(model).local_table
    values = select(*(bindparam(f"value_{name}", type_=table.c[name].type) for name in names))
    return insert(table).from_select(names, values.where(admitted)).returning(*table.columns)


async def insert_row(
    connection: AsyncConnection, model: type[SQLModel], values: Mapping[str, Any], *, owner: Owner
) -> Row[Any]:
    """Insert one row of `owner` with `values`, the fields' defaults (the id, the timestamps)
    filling in the rest, and return it as stored. For a table no write of which a constraint
    refuses: building and flushing the ORM object cost a create 19% (docs/performance.md).

    The owner's check, if still to make, is the insert's condition: a refused caller's row is
    never written, and the check, read alone then, says why.
    """
    inserting = _inserting(model)
    made = {name: make() for name, make in inserting.factories.items() if name not in values}
    row = inserting.defaults | made | dict(values) | {"owner_id": owner.id}
    check = owner.check
    if check is None:
        return (await connection.execute(inserting.statement, row)).one()
    statement = _insert_if(model, tuple(row), check.admitted)
    params = {f"value_{name}": value for name, value in row.items()} | dict(check.params)
    inserted = (await connection.execute(statement, params)).first()
    if inserted is None:
        check.admit((await connection.execute(select(check.column), check.params)).scalar())
        raise AuthenticationError  # admitted between the two statements: sign in again
    return inserted
