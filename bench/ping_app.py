"""The baselines: a bare one-file FastAPI app, served with the same uvicorn flags as the render.

`/ping` does nothing. `/ping/db` adds the least any authenticated request of the render must do:
one round trip to the same database through SQLAlchemy's async engine, as a Core statement on a
pooled connection (no ORM, no session, no dependency). `BENCH_DATABASE_URL` names the database,
`BENCH_POOL_SIZE` the size of its pool.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
engine: AsyncEngine | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global engine
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        scheme, rest = url.split(":", 1)
        pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
        engine = create_async_engine(f"{ASYNC_DRIVERS[scheme]}:{rest}", pool_size=pool_size)
    yield
    if engine is not None:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"ping": "pong"}


@app.get("/ping/db")
async def ping_db() -> dict[str, int]:
    assert engine is not None, "set BENCH_DATABASE_URL"
    async with engine.connect() as connection:
        one = (await connection.execute(text("SELECT 1"))).scalar_one()
    return {"ping": one}
