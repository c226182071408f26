"""Field types the generated resources share."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, HttpUrl, TypeAdapter

_http_url = TypeAdapter(HttpUrl)


def _check_http_url(value: str) -> str:
    return str(_http_url.validate_python(value))


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+23:59 is a valid ISO 8601 time that no UTC datetime can hold.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Input is outside the years 1 to 9999 in UTC") from None


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here, it is a 422 naming the field.
    if "\x00" in value:
        raise ValueError("Input must not contain NUL characters")
    return value


# An http(s) URL, validated like pydantic's HttpUrl but stored and returned as plain text.
HttpURL = Annotated[str, AfterValidator(_check_http_url)]
# A moment with a time zone, as UTC: the one form the database stores and compares.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# Text to compare with or search for.
SearchText = Annotated[str, AfterValidator(_no_nul)]
