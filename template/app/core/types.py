"""Field types the generated resources share."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BeforeValidator,
    Field,
    HttpUrl,
    Strict,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

_http_url = TypeAdapter(HttpUrl)
# NUMERIC(18, 2): up to 16 digits before the point and 2 after, as the column holds them.
DECIMAL_PATTERN = r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"
_decimal = re.compile(DECIMAL_PATTERN)
# A number in a query string, which pydantic would read as seconds since 1970.
_number_text = re.compile(r"\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*")


def _check_http_url(value: str) -> str:
    # Kept as sent: the normalised form can be longer (a trailing slash, punycode) than the
    # column and the field's `max_length`, which the value was checked against.
    _http_url.validate_python(value)
    return value


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


def _not_a_number(value: object) -> object:
    # JSON writes these values as strings. Pydantic's lax mode would read a number, or a query
    # string's "0.5", as a time stamp (0 is 1970-01-01): refused instead of converted.
    if isinstance(value, bool | int | float):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    if isinstance(value, str) and _number_text.fullmatch(value):
        raise PydanticCustomError("iso_8601", "Input should be in ISO 8601 form, not a number")
    return value


def _json_integer(value: object) -> object:
    # JSON Schema's integer: 7, or 7.0 (a number with no fraction), never `true` or "7".
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _decimal_schema(schema: dict[str, Any]) -> None:
    # Pydantic documents a number or a string; the column's digits and places are the contract.
    kept: dict[str, Any] = {
        key: schema[key] for key in ("title", "description", "default") if key in schema
    }
    schema.clear()
    schema.update(kept, type="string", format="decimal", pattern=DECIMAL_PATTERN)


def _decimal_text(value: object) -> object:
    # A decimal comes as a string that a float never rounded, in the document's pattern.
    if isinstance(value, bool | int | float):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    if isinstance(value, str) and not _decimal.fullmatch(value):
        raise PydanticCustomError(
            "decimal_parsing", "Input should be a decimal with at most 16 digits and 2 places"
        )
    return value


# An http(s) URL, validated like pydantic's HttpUrl but stored and returned as sent.
HttpURL = Annotated[
    str, AfterValidator(_check_http_url), Field(json_schema_extra={"format": "uri"})
]
# A calendar date, as JSON writes it: "2030-01-15", never a number.
Day = Annotated[date, BeforeValidator(_not_a_number)]
# A moment with a time zone, as UTC: the one form the database stores and compares. Never a
# number of seconds.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc), BeforeValidator(_not_a_number)]
# A decimal of NUMERIC(18, 2) as a string ("12.50"), both ways: exact, as no JSON number is.
# Declare `max_digits=18, decimal_places=2` on the field too: the table's column takes them.
FixedDecimal = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    Field(json_schema_extra=_decimal_schema),
]
# JSON's own types, taken as they come: no `false` for 0, no "1.5" for a number.
WholeNumber = Annotated[int, BeforeValidator(_json_integer)]
Number = Annotated[float, Strict(), AllowInfNan(False)]
Flag = Annotated[bool, Strict()]
# Text to compare with or search for.
SearchText = Annotated[str, AfterValidator(_no_nul)]
