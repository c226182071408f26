"""The audit tests' app and client: each row's address is the one that rate limits count, the
client that a trusted proxy names."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.audit.helpers import CLIENT, audit_settings
from tests.helpers import client_for
from tests.mailbox import Mailbox


@pytest.fixture
def settings(database_url: str, mailbox: Mailbox) -> Settings:
    return audit_settings(database_url, mailbox)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        http.headers["X-Forwarded-For"] = CLIENT
        yield http
