"""RFC 9457 problem details: the one shape of every error response, and its OpenAPI entries."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "The request is not valid; see errors."
SCHEMAS_REF = "#/components/schemas/{model}"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    """The body of every error response; some add members, such as `errors`."""

    # Always sent; `about:blank` says that the status says it all.
    type: str = Field(json_schema_extra={"default": "about:blank"})
    title: str
    status: int
    detail: str | None = None
    request_id: str


class InvalidInput(BaseModel):
    """Where a request is not valid, and why; never the submitted value."""

    loc: list[str | int]
    type: str
    msg: str


class ValidationProblem(Problem):
    errors: list[InvalidInput]


# What each documented error status means in this API.
PROBLEM_DESCRIPTIONS = {
    400: "The request cannot be carried out as sent",
    401: "The credentials are missing, wrong, expired or revoked",
    403: "The caller's role does not allow this",
    404: "No such resource, or not the caller's",
    409: "The request conflicts with the current state",
    412: "The row changed since the version `If-Match` names; read it again",
    413: "The request body is too large",
    415: "The request body is of a type the API does not read",
    422: "The request is not valid; `errors` says where",
    428: "`If-Match` is required (REQUIRE_IF_MATCH) and missing",
    429: "Too many requests; retry after `Retry-After` seconds",
    503: "The database is unavailable; retry later",
}
PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"schema": {"type": "integer"}}},
}


def problem_doc(status_code: int, model: type[Problem] = Problem) -> dict[str, Any]:
    """The OpenAPI response object of a problem answer with `status_code`."""
    schema = {"$ref": SCHEMAS_REF.format(model=model.__name__)}
    doc: dict[str, Any] = {
        "description": PROBLEM_DESCRIPTIONS[status_code],
        "content": {PROBLEM_JSON: {"schema": schema}},
    }
    if status_code in PROBLEM_HEADERS:
        doc["headers"] = PROBLEM_HEADERS[status_code]
    return doc


def problem_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router that can answer with these problems."""
    return {status_code: problem_doc(status_code) for status_code in status_codes}


class AppError(Exception):
    """A failure that a service reports; one handler turns it into a problem response."""

    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class NotFoundError(AppError):
    status_code = status.HTTP_404_NOT_FOUND


class ConflictError(AppError):
    status_code = status.HTTP_409_CONFLICT


class TakenError(ConflictError):
    """A value of a unique field that another row of the same owner holds: a 409 that names
    the field as a validation error would."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.error = {"loc": ["body", field], "type": "unique", "msg": msg}


class ForbiddenError(AppError):
    status_code = status.HTTP_403_FORBIDDEN


class AuthenticationError(AppError):
    """Any bad, missing, expired or revoked credential: always the same 401."""

    status_code = status.HTTP_401_UNAUTHORIZED

    def __init__(self, detail: str = "Could not validate credentials") -> None:
        super().__init__(detail, {"WWW-Authenticate": "Bearer"})


class FieldError(AppError):
    """A field that the schema accepted but a rule of the service refuses: a 422 shaped like any
    validation error. `source` is where the field came from, as in a validation error's `loc`."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT

    def __init__(self, field: str, error_type: str, msg: str, *, source: str = "body") -> None:
        super().__init__(msg)
        self.error = {"loc": [source, field], "type": error_type, "msg": msg}


class RateLimitedError(AppError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests; retry later.", {"Retry-After": str(retry_after)})


def problem_body(status_code: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    body["request_id"] = correlation_id.get() or "-"
    return body


def problem_response(
    status_code: int,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status_code, detail, **extra)
    return JSONResponse(body, status_code=status_code, headers=headers, media_type=PROBLEM_JSON)


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 (registered for AppError only)
    if isinstance(exc, FieldError):
        return problem_response(exc.status_code, INVALID_REQUEST, errors=[exc.error])
    if isinstance(exc, TakenError):
        return problem_response(exc.status_code, exc.detail, errors=[exc.error])
    return problem_response(exc.status_code, exc.detail, exc.headers)


def _allowed_methods(request: Request) -> str:
    """The methods that some route serves on this path (a mount answers for itself)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    path = {"type": "http", "path": request.scope["path"], "root_path": request.scope["root_path"]}
    allowed = []
    for method in HTTP_METHODS:
        scope = {**path, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 (registered for HTTPException only)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    headers = exc.headers
    # Starlette's `Allow` names the methods of the first route on the path only.
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED and (
        allowed := _allowed_methods(request)
    ):
        headers = {**(headers or {}), "Allow": allowed}
    return problem_response(exc.status_code, detail, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 (registered for it only)
    # FastAPI's default body echoes the submitted input (passwords included): keep loc, type, msg.
    errors = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in exc.errors()]
    return problem_response(status.HTTP_422_UNPROCESSABLE_CONTENT, INVALID_REQUEST, errors=errors)


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The driver's message can name hosts and users: log the kind of failure, answer without it.
    logger.error("Database unavailable: %s", type(exc).__name__)
    return problem_response(
        status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unavailable; retry later."
    )


async def _unstorable_value(_request: Request, exc: Exception) -> JSONResponse:
    # A value that passed validation but not the database, e.g. a NUL character in PostgreSQL
    # text. The driver's message can quote the value: log the kind of failure, answer without it.
    logger.warning("The database refused a value: %s", type(exc).__name__)
    return problem_response(
        status.HTTP_400_BAD_REQUEST, "The request holds a value that the database cannot store."
    )


def _document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Describe in `schema` the problems that the handlers above and the middleware send.

    FastAPI documents its own 422 body as JSON: here it is a problem. Any input may also hold a
    value that the database cannot store (400), any body be unparsable (400), too large (413) or
    of a type the API does not read (415), and any bearer token bad (401). Routes document the
    problems of their own logic with `problem_responses`.
    """
    _, definitions = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")], ref_template=SCHEMAS_REF
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(definitions["$defs"])
    for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
        responses = operation["responses"]
        implied = [401] if "security" in operation else []
        if "422" in responses:
            responses["422"] = problem_doc(422, ValidationProblem)
            implied.append(400)
        if "requestBody" in operation:
            implied += [400, 413, 415]
        for status_code in implied:
            responses.setdefault(str(status_code), problem_doc(status_code))
    return schema


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_problems(build_openapi())
        return app.openapi_schema

    # FastAPI's documented way to extend the schema it builds.
    app.openapi = openapi  # type: ignore[method-assign]
