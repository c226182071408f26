"""Every error is problem+json with the security headers and the request id, 500s included."""

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DataError

from app.core.logging import EscapingFormatter
from app.core.security import create_token
from tests.helpers import (
    INVALID,
    PASSWORD,
    PROBLEM_JSON,
    UNREACHABLE_DATABASE,
    Account,
    assert_problem,
    bearer,
    client_for,
    error_locations,
    login,
    make_settings,
    running_app,
)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
SECRET_DETAIL = "connection to db-internal.example:5432 failed for user app_owner"


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["x-request-id"]


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let caplog see the `app` loggers, which otherwise write only to their own handler."""
    monkeypatch.setattr(logging.getLogger("app"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="app"):
        yield


@pytest.fixture
async def failing_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with one extra route that fails the way a bug would."""

    async def fail() -> None:
        raise RuntimeError(SECRET_DETAIL)

    app.add_api_route("/test-only/fail", fail)
    async with client_for(app) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/health/live", 405),
        ("GET", "/api/v1/users/me", 401),
        ("POST", "/api/v1/auth/register", 422),
    ],
)
async def test_security_headers_on_every_response(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    r = await client.request(method, path, json={})

    assert r.status_code == status, r.text
    assert_security_headers(r)


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/no-such-thing"), 404)


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    r = await client.delete("/health/live")

    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD"


async def test_wrong_method_names_the_methods_of_every_route_on_the_path(
    client: httpx.AsyncClient,
) -> None:
    """`GET /users/me` and `PATCH /users/me` are two routes; Starlette's `Allow` names one."""
    r = await client.put("/api/v1/users/me")

    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, PATCH"


async def test_openapi_documents_each_error_as_a_problem(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]

    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for name, operation in operations:
        responses = operation["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_JSON], f"{name} {status}"
        if "422" in responses:
            problem = responses["422"]["content"][PROBLEM_JSON]["schema"]
            assert problem == {"$ref": "#/components/schemas/ValidationProblem"}, name
            assert "400" in responses, name
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= set(responses), name
        if "security" in operation:
            assert "401" in responses, name
    register = dict(operations)["POST /api/v1/auth/register"]["responses"]
    assert {"409", "429", "503"} <= set(register)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/plain"}, {"content-type": "application/xml"}, {}],
    ids=["text", "xml", "no-content-type"],
)
async def test_a_body_of_a_type_the_api_does_not_read(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = b'{"email": "ada@example.com", "password": "correct horse battery"}'
    r = await client.post("/api/v1/auth/register", content=body, headers=headers)

    assert_problem(
        r,
        415,
        "Send the body as one of: application/json, application/x-www-form-urlencoded.",
    )
    assert_security_headers(r)


async def test_json_with_a_charset_is_read(client: httpx.AsyncClient) -> None:
    body = b'{"email": "ada@example.com", "password": "correct horse battery"}'
    headers = {"content-type": "Application/JSON; charset=utf-8"}
    r = await client.post("/api/v1/auth/register", content=body, headers=headers)

    assert r.status_code == 201, r.text


async def test_deeply_nested_json_is_a_client_error(client: httpx.AsyncClient) -> None:
    """Nesting past the parser's recursion limit is refused as a bad body, never a 500."""
    body = b"[" * 100_000 + b"]" * 100_000
    r = await client.post("/api/v1/auth/register", content=body, headers=JSON)

    assert_problem(r, 400, "There was an error parsing the body")


async def test_a_declared_body_over_the_limit(database_url: str) -> None:
    settings = make_settings(database_url, max_body_bytes=2048)
    async with running_app(settings) as application, client_for(application) as client:
        r = await client.post("/api/v1/auth/register", content=b"x" * 2049, headers=JSON)

    assert_problem(r, 413, "The request body is larger than 2048 bytes.")
    assert_security_headers(r)


async def test_a_streamed_body_over_the_limit(database_url: str) -> None:
    """No Content-Length to trust: the limit counts the bytes as they arrive."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 1024

    settings = make_settings(database_url, max_body_bytes=2048)
    async with running_app(settings) as application, client_for(application) as client:
        r = await client.post("/api/v1/auth/register", content=chunks(), headers=JSON)

    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "The request body is larger than 2048 bytes.")
    assert_security_headers(r)


async def test_a_body_at_the_limit_is_read(database_url: str) -> None:
    settings = make_settings(database_url, max_body_bytes=2048)
    body = b'{"email": "ada@example.com", "password": "' + PASSWORD.encode() + b'"}'
    async with running_app(settings) as application, client_for(application) as client:
        r = await client.post(
            "/api/v1/auth/register",
            content=body.ljust(2048),
            headers=JSON,
        )

    assert r.status_code == 201, r.text


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/register",
        content=b'{"email": ',
        headers=JSON,
    )

    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["type"] == "json_invalid"
    assert error_locations(r)[0][0] == "body"


async def test_validation_errors_never_echo_the_input(client: httpx.AsyncClient) -> None:
    secret = "my-secret-passphrase-" * 10
    r = await client.post(
        "/api/v1/auth/register", json={"email": "not an email", "password": secret}
    )

    assert sorted(map(tuple, error_locations(r))) == [("body", "email"), ("body", "password")]
    assert secret[:20] not in r.text
    assert "not an email" not in r.text
    assert r.json()["detail"] == INVALID


async def test_a_server_error_says_nothing_of_its_cause(
    failing_client: httpx.AsyncClient, app_logs: None, caplog: pytest.LogCaptureFixture
) -> None:
    r = await failing_client.get("/test-only/fail", headers={"X-Request-ID": "trace-500"})

    assert_problem(r, 500)
    assert r.json()["request_id"] == "trace-500"
    assert SECRET_DETAIL not in r.text
    assert "RuntimeError" not in r.text
    assert_security_headers(r)
    # The log keeps the cause, under the same request id.
    failures = [record for record in caplog.records if record.exc_info]
    assert len(failures) == 1
    assert getattr(failures[0], "correlation_id", None) == "trace-500"


async def test_a_value_the_database_cannot_store_is_a_400(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def store() -> None:
        raise DataError("INSERT ...", {"name": SECRET_DETAIL}, ValueError(SECRET_DETAIL))

    app.add_api_route("/test-only/store", store)
    r = await client.get("/test-only/store")

    assert_problem(r, 400, "The request holds a value that the database cannot store.")
    assert SECRET_DETAIL not in r.text


async def test_a_nul_character_is_never_a_server_error(client: httpx.AsyncClient) -> None:
    """SQLite stores it; PostgreSQL text cannot hold it, which is the client's problem."""
    account = {"email": "nul@example.com", "password": PASSWORD, "full_name": "Ada\x00Lovelace"}
    r = await client.post("/api/v1/auth/register", json=account)

    assert r.status_code in {201, 400}, r.text


async def test_an_unreachable_database_is_a_503() -> None:
    """A driver error names hosts and users: the answer does not."""
    broken = make_settings(UNREACHABLE_DATABASE)
    now = datetime.now(UTC)
    token, _ = create_token(
        broken,
        kind="access",
        user_id=uuid4(),
        session_id=uuid4(),
        now=now,
        expires=now + timedelta(minutes=5),
    )
    async with running_app(broken) as application, client_for(application) as client:
        r = await client.get("/api/v1/users/me", headers=bearer(token))

    assert_problem(r, 503, "The database is unavailable; retry later.")
    assert "127.0.0.1" not in r.text
    assert "nobody" not in r.text


@pytest.mark.parametrize("request_id", ["abc-123", "A.b_C-9", "x" * 64])
async def test_a_safe_request_id_is_kept(client: httpx.AsyncClient, request_id: str) -> None:
    r = await client.get("/no/such/route", headers={"X-Request-ID": request_id})

    assert r.headers["x-request-id"] == request_id
    assert r.json()["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    ["", "x" * 65, "has space", "<script>", "a/b", "id;drop", "ünïcode"],
)
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, request_id: str) -> None:
    r = await client.get("/no/such/route", headers={b"X-Request-ID": request_id.encode()})

    replaced = r.headers["x-request-id"]
    assert replaced != request_id
    assert len(replaced) == 32
    int(replaced, 16)
    assert r.json()["request_id"] == replaced


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health/live")).headers["x-request-id"] for _ in range(3)}

    assert len(ids) == 3


async def test_logs_hold_no_passwords_or_tokens(
    client: httpx.AsyncClient, user: Account, app_logs: None, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = (await login(client, user.email)).json()
    await login(client, user.email, "a wrong password, logged nowhere")
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "expected sign-in log lines"
    for secret in (PASSWORD, "a wrong password", tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text


def test_log_lines_cannot_be_forged() -> None:
    record = logging.LogRecord(
        "app.test", logging.INFO, __file__, 1, "user %s", ("eve\n2030-01-01 INFO forged",), None
    )

    line = EscapingFormatter("%(message)s").format(record)

    assert line == "user eve\\n2030-01-01 INFO forged"
