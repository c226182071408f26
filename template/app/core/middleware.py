"""Pure ASGI middleware, one job each: security headers, request bodies, 500s, and closing
what a request opened in the database.

Request ids come from asgi-correlation-id's middleware, with `is_safe_request_id` as its check.
"""

import json
import logging
import re

from fastapi import HTTPException, status
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import close_request_database
from app.core.errors import PROBLEM_JSON, problem_body

logger = logging.getLogger(__name__)

# An incoming X-Request-ID is reused only when it cannot carry anything but an id.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cache-Control": "no-store",
    # A page that needs more (the API docs, app.core.docs) sets its own policy.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


# JSON for the API, the OAuth2 form for sign-in.
READABLE_MEDIA_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})


def is_safe_request_id(value: str) -> bool:
    return SAFE_REQUEST_ID.fullmatch(value) is not None


async def send_problem(send: Send, status_code: int, detail: str | None = None) -> None:
    body = json.dumps(problem_body(status_code, detail)).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, errors and 500s included.

    A header the response already has is kept, so a page can carry a policy of its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestBodyMiddleware:
    """Admits only request bodies the API reads: a type it parses (else 415) and at most
    `max_bytes`, whether declared or streamed (else 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        has_body = "transfer-encoding" in headers or (declared.isdigit() and int(declared) > 0)
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if has_body and media_type not in READABLE_MEDIA_TYPES:
            readable = ", ".join(sorted(READABLE_MEDIA_TYPES))
            detail = f"Send the body as one of: {readable}."
            await send_problem(send, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail)
            return
        too_large = f"The request body is larger than {self.max_bytes} bytes."
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_problem(send, status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # FastAPI re-raises an HTTPException from body reading, so its handler answers.
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            return message

        await self.app(scope, limited_receive, send)


class ServerErrorMiddleware:
    """Turns an unhandled exception into a bare 500 problem inside the header middleware.

    FastAPI's own `Exception` handler runs outside user middleware, so its 500 would lack
    the security headers and request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("Unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_problem(send, status.HTTP_500_INTERNAL_SERVER_ERROR)


class DatabaseMiddleware:
    """Closes the connection and session a request opened (`app.core.db`), whatever happened,
    once its answer is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            await close_request_database(scope)
