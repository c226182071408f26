"""The plan of the page query that each list request runs, for docs/performance.md.

bench/run.py runs it inside the rendered project, whose settings come from the environment:

    python explain.py TOKEN PATH...

The app serves each request in process. The statement that selects the page (the one holding
the total's count) is caught on its way to the database, then explained there with the same
parameters: `EXPLAIN (ANALYZE, COSTS OFF)`, the plan the database ran and the time it took.
"""

import asyncio
import sys
from typing import Any

import httpx
from app.main import create_app  # type: ignore[import-not-found]  # the rendered project's
from sqlalchemy import Engine, event


async def explain(token: str, paths: list[str]) -> None:
    caught: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "count(*)" in statement:
            caught.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", catch)
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for path in paths:
                caught.clear()
                (await client.get(path, headers=headers)).raise_for_status()
                statement, parameters = caught[-1]
                async with app.state.engine.connect() as connection:
                    result = await connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters
                    )
                    plan = "\n".join(row[0] for row in result)
                print(f"### GET {path}\n{plan}\n", flush=True)


if __name__ == "__main__":
    asyncio.run(explain(sys.argv[1], sys.argv[2:]))
