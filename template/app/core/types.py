"""Field types the generated resources share."""

from typing import Annotated

from pydantic import AfterValidator, HttpUrl, TypeAdapter

_http_url = TypeAdapter(HttpUrl)


def _check_http_url(value: str) -> str:
    return str(_http_url.validate_python(value))


# An http(s) URL, validated like pydantic's HttpUrl but stored and returned as plain text.
HttpURL = Annotated[str, AfterValidator(_check_http_url)]
