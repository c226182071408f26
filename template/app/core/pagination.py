"""Bounded, allow-listed listing: a page and its total in one query, by offset or by cursor.

A cursor is the base64url of compact JSON holding the sort, the last row's sort value and its id.
It only says where to continue: the owner condition and the filters come from each request, so a
cursor can neither widen what a caller sees nor need a secret.
"""

import base64
import operator
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from types import UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Self,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)
from uuid import UUID

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
)
from sqlalchemy import BindParameter, Column, ColumnElement, and_, bindparam, func, inspect, or_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import ExecutableOption
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from app.core.errors import FieldError
from app.core.models import Owner
from app.core.types import Instant

MAX_LIMIT = 100
# Statement shapes (filters set, sort, cursor) each process keeps built; a client can ask for
# more, at the cost each had before they were kept.
SHAPES_KEPT = 512
# Room for a sort by a timestamp, number, date or UUID; `cursor_param` of a resource that sorts by
# strings gives it room for its longest one.
CURSOR_LENGTH = 256

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
S = TypeVar("S", bound=BaseModel)


def cursor_param(max_length: int) -> Any:
    """The `cursor` query parameter, long enough for any cursor its list gives out."""
    return Field(
        default=None,
        max_length=max_length,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `next_cursor` of the previous page; send the same sort and filters.",
    )


def sort_param(sort: Any, default: str) -> Any:
    """The `sort` query parameter, one of the values of the Literal `sort`. Each value gets an
    enum name for generated clients: `created_at` is CREATED_AT, `-created_at` CREATED_AT_DESC."""
    names = [
        value.removeprefix("-").upper() + ("_DESC" if value.startswith("-") else "")
        for value in get_args(sort)
    ]
    return Field(default=default, json_schema_extra={"x-enum-varnames": names})


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[T]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="Send as `cursor` for the next page; null on the last page."
    )


class ListQuery(BaseModel):
    """A list's query parameters; subclasses add `sort` and filters. Unknown ones are refused.

    A filter is named `field` (equal to, or with a list of values any of them), `field__gt`,
    `field__gte`, `field__lt`, `field__lte` (a range) or `field__isnull` (true or false).
    """

    model_config = ConfigDict(extra="forbid")
    # Names that are not column filters.
    control_fields: ClassVar[frozenset[str]] = frozenset(
        {"limit", "offset", "cursor", "sort", "expand", "q"}
    )
    # The fields that `q` searches.
    searched: ClassVar[tuple[str, ...]] = ()

    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    cursor: str | None = cursor_param(CURSOR_LENGTH)

    @classmethod
    async def from_request(cls, request: Request) -> Self:
        """The dependency of a list route: this query, from the query string, in one validation.

        FastAPI's `Query()` model looks up each of the ~30 fields on every request, which cost
        17% of a list (docs/performance.md). Errors are FastAPI's, located `("query", name)`;
        `app.core.openapi` documents the parameters as FastAPI documents `Query()`.
        """
        params = request.query_params
        repeatable = _repeatable(cls)
        # A repeated parameter that is no list keeps its last value, as with `Query()`.
        values = {
            name: params.getlist(name) if name in repeatable else params[name] for name in params
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in error.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    def filters(self) -> dict[str, Any]:
        """The column filters the client set, compared literally (never as patterns)."""
        return self.model_dump(exclude=set(self.control_fields), exclude_none=True)

    def words(self) -> list[str]:
        """The words of `q`, each of which a row must hold in one of the searched fields."""
        q: str | None = getattr(self, "q", None)
        return list(dict.fromkeys(q.lower().split())) if q else []


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Annotated, Union, UnionType):
        return any(_is_sequence(argument) for argument in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


@cache
def _repeatable(query: type[ListQuery]) -> frozenset[str]:
    """The parameters a client may repeat, as in `?done=true&done=false`: the lists."""
    fields = query.model_fields.items()
    return frozenset(name for name, field in fields if _is_sequence(field.annotation))


class PageQuery(ListQuery):
    """The query of a list of rows with `created_at` and `updated_at`: ranges of both."""

    created_at__gt: Instant | None = None
    created_at__gte: Instant | None = None
    created_at__lt: Instant | None = None
    created_at__lte: Instant | None = None
    updated_at__gt: Instant | None = None
    updated_at__gte: Instant | None = None
    updated_at__lt: Instant | None = None
    updated_at__lte: Instant | None = None


_TESTS = {
    "": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _kind(name: str, value: Any) -> str:
    """What a filter's value changes in the statement: a null test's direction, or a list."""
    if name.endswith("__isnull"):
        return "null" if value else "not-null"
    return "list" if isinstance(value, list) else ""


def _condition(columns: Any, name: str, kind: str) -> ColumnElement[bool]:
    """The condition of one filter (`ListQuery` names them), its value the parameter
    `filter_<name>`."""
    field, _, test = name.partition("__")
    column: Column[Any] = columns[field]
    if kind == "null":
        return column.is_(None)
    if kind == "not-null":
        return column.is_not(None)
    if kind == "list":
        return column.in_(bindparam(f"filter_{name}", expanding=True))
    return cast(ColumnElement[bool], _TESTS[test](column, bindparam(f"filter_{name}")))


def _pattern(word: str) -> str:
    """`word` anywhere, with `%`, `_` and `\\` in it literal."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(model: type[SQLModel], fields: Sequence[str], index: int) -> ColumnElement[bool]:
    """Rows with the pattern of word `index` in one of `fields`, case-insensitively. On
    PostgreSQL a trigram index serves the ILIKE."""
    pattern: BindParameter[str] = bindparam(f"word_{index}")
    return or_(*(col(getattr(model, field)).ilike(pattern, escape="\\") for field in fields))


class Cursor(BaseModel):
    """Where a page ended: the sort it was taken by, the last row's sort value and id."""

    model_config = ConfigDict(extra="forbid")

    sort: str
    value: JsonValue
    id: UUID


class CursorError(FieldError):
    def __init__(self, error_type: str, msg: str) -> None:
        super().__init__("cursor", error_type, msg, source="query")


def _not_a_cursor() -> CursorError:
    return CursorError("cursor_invalid", "Not a cursor of this list; send a page's `next_cursor`.")


@cache
def _values_of(model: type[SQLModel], name: str) -> TypeAdapter[Any]:
    """Reads and writes a field's values as JSON, by its annotation and constraints, so a value
    round-trips exactly and one that the column cannot hold (a 65-bit int) is refused.

    Not the column's `python_type`: SQLModel's own column types report `object`.
    """
    field = model.model_fields[name]
    # Timestamps are stored aware, in UTC: a naive one or one that no UTC datetime can hold is
    # refused (SQLModel cannot bind the first, the database the second).
    annotation: Any = Instant if field.annotation is datetime else field.annotation
    return TypeAdapter(Annotated[annotation, field])


def encode_cursor(sort: str, model: type[SQLModel], row: SQLModel) -> str:
    name = sort.removeprefix("-")
    value = _values_of(model, name).dump_python(getattr(row, name), mode="json")
    cursor = Cursor(sort=sort, value=value, id=getattr(row, "id"))  # noqa: B009 (a column)
    return base64.urlsafe_b64encode(cursor.model_dump_json().encode()).rstrip(b"=").decode()


def decode_cursor(query: ListQuery, sort: str, model: type[SQLModel]) -> tuple[Any, UUID] | None:
    """The sort value and id that the query's cursor continues after, if it has one."""
    if query.cursor is None:
        return None
    if query.offset:
        raise CursorError("cursor_with_offset", "Send either a cursor or an offset, not both.")
    try:
        padded = query.cursor + "=" * (-len(query.cursor) % 4)
        cursor = Cursor.model_validate_json(base64.urlsafe_b64decode(padded))
    except ValueError:  # bad base64 (binascii.Error) or a bad payload (ValidationError)
        raise _not_a_cursor() from None
    if cursor.sort != sort:
        raise CursorError(
            "cursor_sort_mismatch",
            "The cursor belongs to another sort; send the sort it came with.",
        )
    try:
        value = _values_of(model, sort.removeprefix("-")).validate_python(cursor.value)
    except ValidationError:
        raise _not_a_cursor() from None
    return value, cursor.id


def _after(
    column: Column[Any], id_column: Column[Any], *, descending: bool, after_null: bool
) -> ColumnElement[bool]:
    """Rows that sort after the cursor's row (NULLs last, ties by id), written so that an index
    on the column bounds the scan: `c <= v AND (c < v OR id > last_id)` rather than a bare OR."""
    last_id: BindParameter[UUID] = bindparam("cursor_id")
    if after_null:  # only NULLs are left, in id order
        return and_(column.is_(None), id_column > last_id)
    value = bindparam("cursor_value", type_=column.type)  # a parameter even for True and False
    within = column <= value if descending else column >= value
    beyond = column < value if descending else column > value
    after = and_(within, or_(beyond, id_column > last_id))
    return or_(after, column.is_(None)) if column.nullable else after


@lru_cache(maxsize=SHAPES_KEPT)
def _statements(
    model: type[SQLModel],
    matching: tuple[str, ...],
    filters: tuple[tuple[str, str], ...],
    searched: tuple[str, ...],
    words: int,
    sort: str,
    after: str,
    as_rows: bool,
    checked: ScalarSelect[Any] | None,
) -> tuple[Select[Any, Any], Select[Any, Any]]:
    """The page and count statements of one shape of request, every value a named parameter:
    built, and keyed by SQLAlchemy's statement cache, once per shape rather than per request
    (docs/performance.md). `after` is "" without a cursor, else "null" or "value". Each kind
    of value has its own prefix, so no field's name can take another value's parameter. The
    page selects the table's columns `as_rows`, else its ORM entity, then the total, then the
    `checked` column of a caller check, which the count selects after the total too."""
    columns = inspect(model).columns
    conditions = [
        *(columns[name] == bindparam(f"match_{name}") for name in matching),
        *(_condition(columns, name, kind) for name, kind in filters),
        *(_contains(model, searched, index) for index in range(words)),
    ]
    descending = sort.startswith("-")
    column, id_column = columns[sort.removeprefix("-")], columns["id"]
    order = column.desc() if descending else column.asc()
    if column.nullable:  # the same place on every database, in both directions
        order = order.nulls_last()
    count = select(func.count()).select_from(model).where(*conditions)
    total = count.correlate(None).scalar_subquery()
    check = () if checked is None else (checked,)
    statement = select(model, total, *check).where(*conditions)
    if as_rows:  # still SQLModel's Select: the generative copy keeps the class
        statement = cast(Select[Any, Any], statement.with_only_columns(*columns, total, *check))
    if after:
        page_after = _after(column, id_column, descending=descending, after_null=after == "null")
        statement = statement.where(page_after)
    statement = statement.order_by(order, id_column)
    page = statement.limit(bindparam("limit")).offset(bindparam("offset"))
    return page, cast(Select[Any, Any], count.add_columns(*check))


async def _read_page(
    db: AsyncSession | AsyncConnection,
    model: type[SQLModel],
    query: ListQuery,
    matching: Mapping[str, Any],
    *,
    owner: Owner | None,
    options: Sequence[ExecutableOption] = (),
) -> tuple[Sequence[Any], int, str | None]:
    """The page's rows, the total and the next cursor: ORM objects in a session, plain rows
    on a connection. Only the owner's rows, once the owner's check, if any, admits the caller.

    The total comes from a scalar subquery in the same round trip. The database counts it once,
    from the index where it can, and reads only the page's rows; a `count() OVER ()` window
    would read every matching row on every page (about a second for 100k rows on SQLite). One
    row past the page says whether there is a next one.
    """
    check = None if owner is None else owner.check
    if owner is not None:
        matching = {"owner_id": owner.id, **matching}
    as_rows = isinstance(db, AsyncConnection)
    filters = query.filters()
    words = query.words()
    sort: str = getattr(query, "sort", "-created_at")
    last = decode_cursor(query, sort, model)
    after = "" if last is None else "null" if last[0] is None else "value"
    statement, count = _statements(
        model,
        tuple(matching),
        tuple((name, _kind(name, value)) for name, value in filters.items()),
        query.searched,
        len(words),
        sort,
        after,
        as_rows,
        None if check is None else check.column,
    )
    params: dict[str, Any] = {
        **({} if check is None else check.params),
        **{f"match_{name}": value for name, value in matching.items()},
        **{
            f"filter_{name}": value
            for name, value in filters.items()
            if not name.endswith("__isnull")
        },
        **{f"word_{index}": _pattern(word) for index, word in enumerate(words)},
        "limit": query.limit + 1,
        "offset": query.offset,
    }
    if last is not None:
        params["cursor_value"], params["cursor_id"] = last
    if isinstance(db, AsyncConnection):
        rows: Sequence[Any] = (await db.execute(statement, params)).all()
    else:
        if options:
            statement = statement.options(*options)
        rows = (await db.exec(statement, params=params)).all()
    if rows:
        last_columns = rows[0]
    else:  # past the last page no row carries the total (nor the check): counted alone
        connection = db if isinstance(db, AsyncConnection) else await db.connection()
        last_columns = (await connection.execute(count, params)).one()
    if check is None:
        total = last_columns[-1]
    else:
        check.admit(last_columns[-1])
        total = last_columns[-2]
    next_cursor = None
    if len(rows) > query.limit:
        last_shown = rows[query.limit - 1]
        next_cursor = encode_cursor(sort, model, last_shown if as_rows else last_shown[0])
    return rows[: query.limit], total, next_cursor


async def paginate(
    session: AsyncSession,
    model: type[M],
    query: ListQuery,
    *,
    owner: Owner | None = None,
    matching: Mapping[str, Any] | None = None,
    options: Sequence[ExecutableOption] = (),
) -> Page[M]:
    """One page of `model` objects of `owner` with the column values of `matching` and the
    query's filters, sorted and bounded; `options` load what the rows reference. For a list
    that shows only the table's own columns, `paginate_rows` does the same for less."""
    rows, total, next_cursor = await _read_page(
        session, model, query, matching or {}, owner=owner, options=options
    )
    return Page(
        items=cast(list[M], [row[0] for row in rows]),
        total=total,
        limit=query.limit,
        offset=query.offset,
        next_cursor=next_cursor,
    )


@cache
def _shown_list(shown: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """Validates a page's rows into `shown`, in one call; built once per schema."""
    item: Any = shown
    return TypeAdapter(list[item])


async def paginate_rows(
    connection: AsyncConnection,
    model: type[SQLModel],
    query: ListQuery,
    shown: type[S],
    *,
    owner: Owner | None = None,
    matching: Mapping[str, Any] | None = None,
) -> Page[S]:
    """One page as `paginate` gives it, each row read as a plain row on the request's
    connection, not an ORM object in a session, and shown as `shown` (the public schema):
    about 20% less work for a list of 20 (docs/performance.md). `shown` may only read the
    table's columns."""
    rows, total, next_cursor = await _read_page(
        connection, model, query, matching or {}, owner=owner
    )
    # As dicts: a row's attributes are found only after a failed look-up on its class.
    keys = rows[0]._fields if rows else ()
    values = [dict(zip(keys, row, strict=True)) for row in rows]
    items: list[S] = _shown_list(shown).validate_python(values)
    return Page(
        items=items,
        total=total,
        limit=query.limit,
        offset=query.offset,
        next_cursor=next_cursor,
    )
