"""Conditional requests (RFC 9110): a row's version as its ETag, `If-Match` guarding a write
against lost updates, and `If-None-Match` sparing a client a row it already has.

The version is the row's `updated_at`, which every write moves on. A write that names a version
claims the row in one `UPDATE ... WHERE id = :id AND updated_at = :seen`: of concurrent writers
that saw the same version, exactly one matches, and the others answer 412.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response, status
from sqlalchemy import update
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import AppError
from app.core.models import utcnow

ETAG_HEADER = {
    "ETag": {
        "description": "The row's version; send it as `If-Match` to change only this version.",
        "schema": {"type": "string"},
    }
}


class PreconditionFailedError(AppError):
    status_code = status.HTTP_412_PRECONDITION_FAILED

    def __init__(self) -> None:
        super().__init__("The row changed since the version If-Match names; read it again.")


class PreconditionRequiredError(AppError):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED

    def __init__(self) -> None:
        super().__init__("Send If-Match with the ETag of the version you read.")


def _in_utc(moment: datetime) -> datetime:
    # SQLite gives a timestamp back without its zone; every one it holds is in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def etag(row: SQLModel) -> str:
    """The row's version as a strong ETag: its `updated_at` in UTC, to the microsecond."""
    return f'"{_in_utc(getattr(row, "updated_at")):%Y%m%dT%H%M%S%fZ}"'  # noqa: B009 (a column)


def _names(header: str, row: SQLModel) -> bool:
    """Whether an `If-Match` or `If-None-Match` value names the row's version; `*` names any."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag(row) in tags


async def _if_match(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            max_length=1000,
            description="The ETag of the version to change; another version is a 412.",
        ),
    ] = None,
) -> str | None:
    if if_match is None and request.app.state.settings.require_if_match:
        raise PreconditionRequiredError
    return if_match


# The `If-Match` of a write, required where REQUIRE_IF_MATCH says so (428 without it).
IfMatch = Annotated[str | None, Depends(_if_match)]
# The `If-None-Match` of a read: the ETags of the versions the client has.
IfNoneMatch = Annotated[
    str | None,
    Header(max_length=1000, description="ETags you have; the current one is a 304."),
]


def check_if_match(header: str | None, row: SQLModel) -> None:
    """A 412 unless `If-Match` is absent or names the row's version."""
    if header is not None and not _names(header, row):
        raise PreconditionFailedError


def current(header: str | None, row: SQLModel) -> bool:
    """Whether `If-None-Match` names the row's version, so that a 304 will do."""
    return header is not None and _names(header, row)


def not_modified(row: SQLModel) -> Response:
    """The 304 of a read whose If-None-Match names the row's version."""
    return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(row)})


def etag_responses(status_code: int, *, cached: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries of a route that answers with the row's ETag, and a 304 if `cached`."""
    responses: dict[int | str, dict[str, Any]] = {status_code: {"headers": ETAG_HEADER}}
    if cached:
        responses[304] = {
            "description": "The version If-None-Match names is current",
            "headers": ETAG_HEADER,
        }
    return responses


async def claim(session: AsyncSession, row: SQLModel) -> None:
    """Take the row for this transaction's write if it is still the version read, else a 412.

    A compare-and-set on `updated_at` in one statement: a concurrent writer that read the same
    version waits for this transaction's row lock, then matches no row.
    """
    model = type(row)
    seen: datetime = getattr(row, "updated_at")  # noqa: B009 (a column)
    # Later than the version seen, even where the clock stands still or went back.
    moved_on = max(utcnow(), _in_utc(seen) + timedelta(microseconds=1))
    statement = (
        update(model)
        .where(
            col(getattr(model, "id")) == getattr(row, "id"),  # noqa: B009 (a column)
            col(getattr(model, "updated_at")) == seen,  # noqa: B009 (a column)
        )
        .values(updated_at=moved_on)
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(statement)
    if result.rowcount != 1:
        raise PreconditionFailedError
    setattr(row, "updated_at", moved_on)  # noqa: B010 (a column)
