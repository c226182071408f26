"""Benchmark a rendered defaults project against a bare FastAPI `/ping`, in one run.

    cd /work/main && uv run python bench/run.py [--sqlite] [--duration 10] [--connections 16]

Renders the template at HEAD into a temporary directory, migrates a fresh database (a PostgreSQL
database created for the run and dropped after it, or a SQLite file), seeds a user with 20 rows,
serves the project and bench/ping_app.py with uvicorn (one worker, no reload, no access log) on
127.0.0.1, loads each scenario with wrk for a bounded time and prints requests/s, p50/p99 latency
and server CPU per request, each as a ratio of `/ping` measured in the same run. Not a test: it
asserts nothing. Servers, temporary files and the database are removed on exit, even on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import copier
import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "request.lua"
PING_APP = Path(__file__).resolve().parent

# Settings raised for the run so that the load measures the code, not the limiter; printed.
RAISED_SETTINGS = {
    "LOGIN_RATE_LIMIT": "1000000/minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "1000000/minute",
    "REGISTER_RATE_LIMIT": "1000000/minute",
    "REGISTER_ACCOUNT_RATE_LIMIT": "1000000/minute",
    "REFRESH_RATE_LIMIT": "1000000/minute",
    "REFRESH_ACCOUNT_RATE_LIMIT": "1000000/minute",
}
PASSWORD = "bench-" + secrets.token_urlsafe(12)
# Both apps' connection pool: enough for wrk's connections. With the render's default (5, and 10
# more that are closed on return), 16 concurrent requests open and close connections all the
# time, about 10% of a create's CPU that the floor never pays (docs/performance.md).
POOL_SIZE = 20
# The render of the filtered-page scenario: the defaults' todo with an indexed field, a reference
# and a searched title.
FILTERED_RESOURCES = """\
project:
  name: str(120)
todo:
  title: str(200) search
  notes: text?
  done: bool = false
  due: date?
  priority: int = 0 index
  project: project?
"""
# Titles are "<adjective> <noun> <n>": each adjective is in 2% of the rows, each pair in 0.05%.
ADJECTIVES = [
    "amber", "brisk", "calm", "dusty", "eager", "faint", "giant", "hazy", "icy", "jolly",
    "keen", "lush", "mild", "noble", "olive", "proud", "quiet", "rapid", "sandy", "tidy",
    "urban", "vivid", "witty", "young", "zesty", "bold", "crisp", "deep", "early", "fresh",
    "gentle", "humble", "ivory", "jade", "kind", "lunar", "merry", "neat", "oaken", "plain",
    "quick", "royal", "solar", "tame", "upper", "vast", "warm", "exact", "yellow", "zonal",
]  # fmt: skip
NOUNS = [
    "garden", "harbor", "island", "jungle", "kettle", "ladder", "meadow", "needle", "orchard",
    "pencil", "quarry", "river", "saddle", "tunnel", "umbrella", "valley", "window", "yard",
    "zipper", "anchor", "basket", "candle", "desert", "engine", "forest", "glacier", "hammer",
    "igloo", "jacket", "kitchen", "lantern", "mirror", "notebook", "oven", "pillow", "quilt",
    "rocket", "shovel", "teapot", "violin",
]  # fmt: skip
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_ms: float | None  # server CPU per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (so argon2 in the thread pool counts)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """One uvicorn process, the way the issue asks: one worker, no reload, no access log."""

    def __init__(self, app: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--no-proxy-headers",  # as docs/deployment.md serves it
                "--log-level",
                "warning",
            ],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"server exited with {code}; see {self._log.name}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in 30 s; see {self._log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class Load:
    """One wrk run's request: method, path, body and token."""

    path: str
    method: str = "GET"
    body: str = ""
    content_type: str = ""
    token: str = ""


# The floor of any request that reads the database: what issue #14's goals are multiples of.
FLOOR = Load("/ping/db")
# Every wrk started, so that an interrupted run stops them too.
LOADS: list[subprocess.Popen[str]] = []


def stop_loads() -> None:
    for proc in LOADS:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def start_wrk(base: str, load: Load, connections: int, duration: int) -> subprocess.Popen[str]:
    env = os.environ | {
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body,
        "BENCH_CONTENT_TYPE": load.content_type,
        "BENCH_TOKEN": load.token,
    }
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        base + load.path,
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    LOADS.append(proc)
    return proc


def finish_wrk(proc: subprocess.Popen[str], name: str, cpu: float | None = None) -> Result:
    out, _ = proc.communicate(timeout=600)
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed for {name}:\n{out}")
    data = json.loads(line.removeprefix("BENCH "))
    requests = data["requests"]
    return Result(
        name=name,
        requests=requests,
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"],
        cpu_ms=None if cpu is None or not requests else cpu * 1000 / requests,
    )


def measure(server: Server, name: str, load: Load, connections: int, duration: int) -> Result:
    before = cpu_seconds(server.proc.pid)
    proc = start_wrk(server.url, load, connections, duration)
    proc.wait(timeout=duration + 60)
    cpu = cpu_seconds(server.proc.pid) - before
    result = finish_wrk(proc, name, cpu)
    print(f"  {name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms", flush=True)
    return result


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(httpx.URL(admin_url).copy_with(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def render(dest: Path, *, ref: str, worktree: bool, data: dict[str, str]) -> float:
    """Render the defaults, but for `data`, at `ref`; copier adds uncommitted changes only with
    `worktree`."""
    source = REPO
    if not worktree:
        source = dest.parent / "template"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(source)], check=True)
    start = time.perf_counter()
    copier.run_copy(str(source), str(dest), data=data, defaults=True, vcs_ref=ref, quiet=True)
    return time.perf_counter() - start


def signing_key(algorithm: str) -> dict[str, str]:
    """The production setting that holds the render's token signing key."""
    if algorithm == "HS256":
        return {"SECRET_KEY": secrets.token_hex(32)}
    if algorithm == "RS256":
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(65537, 2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return {"JWT_PRIVATE_KEY": pem.decode()}


def sign_up(client: httpx.Client, email: str) -> str:
    r = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    return login(client, email)


def login(client: httpx.Client, email: str) -> str:
    r = client.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def seed_rows(database_url: str, email: str, rows: int) -> None:
    """Insert `rows` todos for `email` straight into the database, faster than the API could."""
    now = datetime.now(UTC)
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as conn:
            (owner,) = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            stamps = (
                (now - timedelta(milliseconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f")
                for i in range(rows)
            )
            conn.executemany(
                "INSERT INTO todos (id, owner_id, title, done, priority, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, 0, ?, ?)",
                ((uuid.uuid4().hex, owner, f"row {i}", t, t) for i, t in enumerate(stamps)),
            )
            conn.commit()
            conn.execute("ANALYZE")
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO todos (id, owner_id, title, done, priority, created_at, updated_at)"
            " SELECT gen_random_uuid(), u.id, 'row ' || i, false, 0,"
            "  now() - i * interval '1 ms', now() - i * interval '1 ms'"
            " FROM users u, generate_series(1, %s) i WHERE u.email = %s",
            (rows, email),
        )
        conn.execute("VACUUM ANALYZE todos")


def seed_filtered_rows(database_url: str, emails: list[str], rows: int) -> None:
    """`rows` todos for each of `emails`, over 100 projects each, with spread priorities and
    titles from ADJECTIVES and NOUNS, straight into the database (PostgreSQL)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projects (id, owner_id, name, created_at, updated_at)"
            " SELECT gen_random_uuid(), u.id, 'project ' || p, now(), now()"
            " FROM users u, generate_series(1, 100) p WHERE u.email = ANY(%s)",
            (emails,),
        )
        conn.execute(
            "INSERT INTO todos"
            " (id, owner_id, title, done, priority, project_id, created_at, updated_at)"
            " SELECT gen_random_uuid(), p.owner_id,"
            "  (%s::text[])[1 + i %% 50] || ' ' || (%s::text[])[1 + (i / 50) %% 40] || ' ' || i,"
            "  false, i %% 1000, p.ids[1 + i %% 100],"
            "  now() - i * interval '1 ms', now() - i * interval '1 ms'"
            " FROM (SELECT owner_id, array_agg(id ORDER BY name) AS ids FROM projects"
            "  GROUP BY owner_id) p, generate_series(1, %s) i",
            (ADJECTIVES, NOUNS, rows),
        )
        conn.execute("VACUUM ANALYZE")


def filtered_pages(
    api: Server, project: Path, env: dict[str, str], database_url: str, rows: int, duration: int
) -> list[Result]:
    """Page 1 of the todos of one of two users with `rows` each, unfiltered and under a filter
    of each kind, then the plan of each page's query."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        owner = sign_up(client, "filtered@example.com")
        sign_up(client, "other@example.com")
        seed_filtered_rows(database_url, ["filtered@example.com", "other@example.com"], rows)
        r = client.get(
            "/api/v1/projects",
            params={"limit": 1, "sort": "name"},
            headers={"Authorization": f"Bearer {owner}"},
        )
        r.raise_for_status()
        project_id = r.json()["items"][0]["id"]
    pages = {
        "no filter": "",
        "priority__gte=990 (indexed range, 1%)": "priority__gte=990",
        "priority__gte=500 (indexed range, 50%)": "priority__gte=500",
        "project_id (reference, 1%)": f"project_id={project_id}",
        "q=vivid (search, 2%)": "q=vivid",
        "q=vivid teapot (search, 0.05%)": "q=vivid+teapot",
        "q=12345 (search, a few rows)": "q=12345",
    }
    results = []
    for name, params in pages.items():
        load = Load(f"/api/v1/todos?{params}", token=owner)
        results.append(measure(api, f"page 1, {name}", load, 4, duration))
    paths = [f"/api/v1/todos?{params}" for params in pages.values()]
    subprocess.run(
        [sys.executable, str(PING_APP / "explain.py"), owner, *paths],
        cwd=project,
        env=env | {"PYTHONPATH": str(project)},  # else the script's own folder comes first
        check=True,
    )
    return results


def ratio(value: float | None, base: float | None) -> str:
    return "" if value is None or not base else f"{value / base:.2f}x"


def table(results: list[Result], ping: Result) -> str:
    head = (
        "| scenario | req/s | ratio | p50 ms | ratio | p99 ms | ratio | CPU ms/req | ratio "
        "| non-2xx |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in results:
        cpu = "" if r.cpu_ms is None else f"{r.cpu_ms:.3f}"
        lines.append(
            f"| {r.name} | {r.rps:,.0f} | {ratio(r.rps, ping.rps)} | {r.p50_ms:.2f} | "
            f"{ratio(r.p50_ms, ping.p50_ms)} | {r.p99_ms:.2f} | {ratio(r.p99_ms, ping.p99_ms)} | "
            f"{cpu} | {ratio(r.cpu_ms, ping.cpu_ms)} | {r.non_2xx + r.socket_errors} |"
        )
    return "\n".join(lines)


def scenarios(args: argparse.Namespace, api: Server, ping_server: Server) -> dict[str, Any]:
    """Reads, writes and logins beside `/ping`, and `/users/me` during a login storm."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        reader = sign_up(client, "reader@example.com")
        writer = sign_up(client, "writer@example.com")
        for i in range(20):
            r = client.post(
                "/api/v1/todos",
                json={"title": f"todo {i}"},
                headers={"Authorization": f"Bearer {reader}"},
            )
            r.raise_for_status()

    c, d = args.connections, args.duration
    form = f"username=reader%40example.com&password={PASSWORD}"
    login_load = Load("/api/v1/auth/login", "POST", form, "application/x-www-form-urlencoded")
    me = Load("/api/v1/users/me", token=reader)
    # Each sign-up a new email (request.lua numbers "{n}"): zxcvbn, one argon2id hash, an insert.
    email = f"new-{secrets.token_hex(4)}-{{n}}@example.com"
    sign_up_body = json.dumps({"email": email, "password": PASSWORD})
    sign_up_load = Load("/api/v1/auth/register", "POST", sign_up_body, "application/json")
    ping = measure(ping_server, "GET /ping (bare FastAPI)", Load("/ping"), c, d)
    results = [
        ping,
        measure(ping_server, "GET /ping/db (bare FastAPI + SELECT 1)", FLOOR, c, d),
        measure(api, "GET /api/v1/users/me", me, c, d),
        measure(api, "GET /api/v1/todos (20 rows)", Load("/api/v1/todos", token=reader), c, d),
        measure(
            api,
            "POST /api/v1/todos",
            Load("/api/v1/todos", "POST", '{"title": "bench"}', "application/json", writer),
            c,
            d,
        ),
        measure(api, "POST /api/v1/auth/login", login_load, args.login_connections, d),
        measure(api, "POST /api/v1/auth/register", sign_up_load, args.login_connections, d),
    ]
    print(table(results, ping))

    # /users/me latency from one client, alone and while logins saturate the server.
    idle = finish_wrk(start_wrk(api.url, me, 1, d), "users/me, 1 client, idle")
    storm = start_wrk(api.url, login_load, args.login_connections, d + 2)
    time.sleep(1)
    during = finish_wrk(start_wrk(api.url, me, 1, d), "users/me, 1 client, login storm")
    logins = finish_wrk(storm, "logins during the storm")
    print(
        f"\n/users/me from 1 client: idle p50 {idle.p50_ms:.2f} ms p99 {idle.p99_ms:.2f} ms; "
        f"during {args.login_connections} concurrent logins ({logins.rps:.0f}/s) "
        f"p50 {during.p50_ms:.2f} ms p99 {during.p99_ms:.2f} ms "
        f"= {during.p99_ms / idle.p99_ms:.1f}x idle p99"
    )

    return {
        "results": [vars(r) | {"rps": r.rps} for r in results],
        "me_idle": vars(idle),
        "me_during_logins": vars(during),
        "logins_during": vars(logins) | {"rps": logins.rps},
    }


def deep_pages(api: Server, database_url: str, rows: int, duration: int) -> list[Result]:
    """A page of 20 at growing depths over `rows` todos of one user: by `offset`, then by the
    `cursor` that the page before hands out (the same rows, found through the index bound)."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        owner = sign_up(client, "deep@example.com")
        seed_rows(database_url, "deep@example.com", rows)
        last = rows - 20
        depths = sorted(o for o in {0, 1_000, 10_000, rows // 2, last} if o <= last)
        cursors = {}
        for depth in depths[1:]:
            r = client.get(
                "/api/v1/todos",
                params={"limit": 20, "offset": depth - 20},
                headers={"Authorization": f"Bearer {owner}"},
            )
            r.raise_for_status()
            cursors[depth] = r.json()["next_cursor"]
    results = []
    for depth in depths:
        load = Load(f"/api/v1/todos?limit=20&offset={depth}", token=owner)
        results.append(measure(api, f"list, {rows:,} rows, offset {depth:,}", load, 4, duration))
    for depth, cursor in cursors.items():
        load = Load(f"/api/v1/todos?limit=20&cursor={cursor}", token=owner)
        results.append(measure(api, f"list, {rows:,} rows, cursor at {depth:,}", load, 4, duration))
    return results


def run(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    project = workdir / "project"
    answers = dict(pair.split("=", 1) for pair in args.data)
    if args.filtered_rows:
        answers.setdefault("resources", FILTERED_RESOURCES)
    render_s = render(project, ref=args.ref, worktree=args.worktree, data=answers)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    where = f"{args.ref} + uncommitted changes" if args.worktree else args.ref
    what = ", ".join(args.data) or "the defaults"
    if args.filtered_rows:
        what += " with the resources of FILTERED_RESOURCES"
    print(f"rendered {what} ({where}, {commit}) in {render_s:.2f} s", flush=True)

    if args.sqlite:
        database_url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        database_url = stack.enter_context(postgres_database(args.postgres))
    env = (
        os.environ
        | RAISED_SETTINGS
        | {
            "ENVIRONMENT": "production",
            "MAIL_ENABLED": "false",  # no route of the benchmark sends mail
            "DATABASE_URL": database_url,
            "DB_POOL_SIZE": str(POOL_SIZE),
            **signing_key(answers.get("jwt_algorithm", "HS256")),
        }
    )
    env.pop("REDIS_URL", None)  # rate limits count in process memory
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    print("raised for the run: " + ", ".join(f"{k}={v}" for k, v in RAISED_SETTINGS.items()))

    servers: list[Server] = []

    def stop_servers() -> None:
        for server in servers:
            server.stop()

    stack.callback(stop_servers)
    stack.callback(stop_loads)
    api = Server("app.main:app", project, env, workdir / "api.log")
    servers.append(api)
    ping_env = os.environ | {"BENCH_DATABASE_URL": database_url, "BENCH_POOL_SIZE": str(POOL_SIZE)}
    ping_server = Server("ping_app:app", PING_APP, ping_env, workdir / "ping.log")
    servers.append(ping_server)
    api.wait_ready("/health/ready")
    ping_server.wait_ready("/ping/db")
    print(f"api pid {api.proc.pid}, ping pid {ping_server.proc.pid}", flush=True)

    short = max(3, args.duration // 2)
    if args.filtered_rows:
        floor = measure(ping_server, "GET /ping/db (bare FastAPI + SELECT 1)", FLOOR, 4, short)
        filtered = filtered_pages(api, project, env, database_url, args.filtered_rows, short)
        print(table(filtered, filtered[0]))
        print("\nserver CPU a request, of /ping/db's:")
        for result in filtered:
            print(f"  {result.name}: {ratio(result.cpu_ms, floor.cpu_ms)}")
        return {
            "database": "postgresql",
            "commit": commit,
            "worktree": args.worktree,
            "floor": vars(floor) | {"rps": floor.rps},
            "filtered": [vars(r) | {"rps": r.rps} for r in filtered],
        }
    summary = {} if args.deep_only else scenarios(args, api, ping_server)
    deep = deep_pages(api, database_url, args.deep_rows, short) if args.deep_rows else []
    if deep:
        print(table(deep, deep[0]))

    return {
        "database": "sqlite" if args.sqlite else "postgresql",
        "commit": commit,
        "worktree": args.worktree,
        "render_seconds": round(render_s, 2),
        "raised": RAISED_SETTINGS,
        **summary,
        "deep": [vars(r) | {"rps": r.rps} for r in deep],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite file instead of PostgreSQL")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server and database to CREATE/DROP the bench database from",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--login-connections",
        type=int,
        default=4,
        help="wrk connections for logins (each one argon2id verification)",
    )
    parser.add_argument(
        "--deep-rows",
        type=int,
        default=100_000,
        help="rows for the deep-page scenario, by offset and by cursor (0 skips it)",
    )
    parser.add_argument(
        "--deep-only", action="store_true", help="measure only the deep pages (and /ping's server)"
    )
    parser.add_argument(
        "--filtered-rows",
        type=int,
        default=0,
        help="instead of the other scenarios, page 1 of a list of this many rows of each of two"
        " users, under each kind of filter, and its plan (PostgreSQL)",
    )
    parser.add_argument("--ref", default="HEAD", help="the commit to render, e.g. to compare two")
    parser.add_argument(
        "--worktree",
        action="store_true",
        help="render uncommitted template changes too (copier's dirty mode)",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="QUESTION=ANSWER",
        help="answer a question other than by its default, e.g. jwt_algorithm=RS256",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.connections <= 256:
        parser.error("keep loads bounded: --duration 1..60, --connections 1..256")
    if args.filtered_rows and args.sqlite:
        parser.error("--filtered-rows measures PostgreSQL's indexes; leave out --sqlite")
    # A SIGTERM unwinds like Ctrl-C, so the servers stop and the database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, contextlib.ExitStack() as stack:
        summary = run(args, Path(tmp), stack)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
