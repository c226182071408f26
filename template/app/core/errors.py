"""RFC 9457 problem details: the one shape of every error response."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from app.core.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "The request is not valid; see errors."

logger = logging.getLogger(__name__)


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


class ForbiddenError(AppError):
    status_code = status.HTTP_403_FORBIDDEN


class AuthenticationError(AppError):
    """Any bad, missing, expired or revoked credential: always the same 401."""

    status_code = status.HTTP_401_UNAUTHORIZED

    def __init__(self, detail: str = "Could not validate credentials") -> None:
        super().__init__(detail, {"WWW-Authenticate": "Bearer"})


class FieldError(AppError):
    """A body field that the schema accepted but a rule of the service refuses: a 422 shaped
    like any validation error."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT

    def __init__(self, field: str, error_type: str, msg: str) -> None:
        super().__init__(msg)
        self.error = {"loc": ["body", field], "type": error_type, "msg": msg}


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
    body["request_id"] = request_id_var.get()
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
    return problem_response(exc.status_code, exc.detail, exc.headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 (registered for HTTPException only)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    return problem_response(exc.status_code, detail, exc.headers)


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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
