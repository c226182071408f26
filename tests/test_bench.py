"""The benchmark of docs/performance.md still runs, on both databases, with every scenario answered.

Its numbers are never asserted (a timed test on a shared machine only flakes): this checks that
the command works and that the load it reports is real, 2xx answers with no socket errors, so a
change to the app or the template cannot quietly turn a scenario into a stream of 401s or 429s.
It needs Debian's `wrk`: skipped without it on a laptop, a failure when ``CI=true``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import REPO_ROOT, clean_env, python_module, require_success, run, unavailable

SCENARIOS = [
    "GET /ping (bare FastAPI)",
    "GET /ping/db (bare FastAPI + SELECT 1)",
    "GET /api/v1/users/me",
    "GET /api/v1/todos (20 rows)",
    "POST /api/v1/todos",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/register",
]
# Short loads: enough requests to prove each scenario works, a page walk over a few hundred rows.
QUICK = ["--worktree", "--duration", "1", "--deep-rows", "300"]
KEY_PAIR = ["--data", "jwt_algorithm=RS256"]


@pytest.fixture(scope="module")
def wrk() -> str:
    return shutil.which("wrk") or unavailable("wrk is not installed: `apt-get install wrk`")


@pytest.mark.usefixtures("wrk")
def test_bench_loads_every_scenario_without_errors(
    database: tuple[str, str], tmp_path: Path
) -> None:
    kind, url = database
    # PostgreSQL runs a key-pair render, which the benchmark must give a key of its own.
    target = ["--sqlite"] if kind == "sqlite" else ["--postgres", url, *KEY_PAIR]
    out = tmp_path / "bench.json"

    result = run(
        python_module("bench.run", *QUICK, *target, "--json", str(out)),
        cwd=REPO_ROOT,
        env=clean_env(),
        timeout=600,
    )

    require_success(result)
    summary = json.loads(out.read_text())
    assert summary["database"] == kind
    assert [r["name"] for r in summary["results"]] == SCENARIOS
    loads = [
        *summary["results"],
        *summary["deep"],
        summary["me_idle"],
        summary["me_during_logins"],
        summary["logins_during"],
    ]
    assert summary["deep"], "no deep-page scenario ran"
    for load in loads:
        assert load["requests"] > 0, load
        assert load["non_2xx"] == load["socket_errors"] == 0, load


@pytest.mark.usefixtures("wrk")
def test_bench_measures_filtered_pages_and_explains_them(postgres_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"

    result = run(
        python_module(
            "bench.run",
            "--worktree",
            "--duration",
            "1",
            "--filtered-rows",
            "300",
            "--postgres",
            postgres_url,
            "--json",
            str(out),
        ),
        cwd=REPO_ROOT,
        env=clean_env(),
        timeout=600,
    )

    require_success(result)
    measured = json.loads(out.read_text())
    filtered = measured["filtered"]
    assert len(filtered) == 7, filtered
    for load in [measured["floor"], *filtered]:
        assert load["requests"] > 0, load
        assert load["non_2xx"] == load["socket_errors"] == 0, load
    # One plan per page, each of the query that selected it.
    plans = result.stdout.split("### GET /api/v1/todos?")[1:]
    assert len(plans) == 7, result.stdout
    assert all("todos" in plan and "Execution Time" in plan for plan in plans), result.stdout
