"""`make bench`: each hot path under gunicorn and wrk, beside the floor, measured in one run.

The floor is a bare Flask route under the same gunicorn settings; every figure is also given
as a ratio to the floor measured in the same run, so that the numbers mean the same on any
machine. Measurements are interleaved (floor, then each operation, round after round) and the
median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import sqlalchemy as sa

from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE as SCHOOL_SECRET_GRANT
from bench import ingest as ingest_bench
from bench.report import Result, chart, machine, markdown, summarise

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "bench.lua"
VENV_BIN = Path(sys.executable).parent

# Rate limits are a defence against abuse, not what this measures: the bench lifts them.
LIFTED_LIMITS = {
    "TOKEN_REQUESTS_PER_CLIENT": "100000000 per minute",
    "INTROSPECTION_REQUESTS_PER_RESOURCE_SERVER": "100000000 per minute",
    "API_REQUESTS_PER_TOKEN": "100000000 per minute",
}


@dataclass
class Operation:
    """One thing a client does, as wrk sends it."""

    name: str
    label: str
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    # Single-use values, put into the body at {value}: one file a round, so no value is sent
    # twice across the rounds either.
    pool: list[Path] | None = None
    records: int = 1  # records each answer carries (for records per second)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@contextlib.contextmanager
def gunicorn(
    app: str, env: dict[str, str], workers: int, timeout_s: int | None = None
) -> Iterator[tuple[str, int]]:
    """Serve `app` under gunicorn on a loopback port; yields (base URL, master pid)."""
    port = free_port()
    command = [
        str(VENV_BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *(["--timeout", str(timeout_s)] if timeout_s else []),
        app,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own command)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            requests.get(base + "/", timeout=5)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not start in 60 s")


def worker_peak_rss_mb(master_pid: int) -> float:
    """The largest peak resident set (VmHWM) of the master's worker processes, in MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    peaks = []
    for pid in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peaks.append(int(match.group(1)) / 1024)
    return max(peaks, default=0.0)


def run_wrk(
    base: str, operation: Operation, args: argparse.Namespace, master_pid: int, round_index: int = 0
) -> Result:
    env = {
        **os.environ,
        "BENCH_METHOD": operation.method,
        "BENCH_PATH": operation.path,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in operation.headers.items()),
        "BENCH_BODY": operation.body,
        "BENCH_POOL": str(operation.pool[round_index] if operation.pool else ""),
        "BENCH_THREADS": str(args.threads),
    }
    command = [
        "wrk",
        "--threads",
        str(args.threads),
        "--connections",
        str(args.connections),
        "--duration",
        f"{args.duration}s",
        "--timeout",
        "10s",
        "--script",
        str(LUA),
        base + operation.path,
    ]
    output = subprocess.run(  # noqa: S603 (our own command)
        command, env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH_RESULT "))
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Result(
        requests_per_second=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        requests=raw["requests"],
        peak_rss_mb=worker_peak_rss_mb(master_pid),
    )


# --- The world under test --------------------------------------------------------------------


def database_urls(args: argparse.Namespace, workdir: Path, name: str = "bench") -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{workdir / f'{name}.db'}"}
    if os.environ.get("BENCH_DATABASE_URL"):
        urls["postgresql"] = postgres_schema_url(os.environ["BENCH_DATABASE_URL"], name)
    return urls


def postgres_schema_url(url: str, schema: str) -> str:
    """The database at `url`, confined to `schema`, which is emptied first (the bench owns it)."""
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    parsed = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


def server_env(database_url: str, workdir: Path, issuer: str) -> dict[str, str]:
    return {
        **os.environ,
        **LIFTED_LIMITS,
        "DATABASE_URL": database_url,
        "APP_ENV": "development",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ISSUER": issuer,
        "INSTANCE_PATH": str(workdir / "instance"),
        "LOG_LEVEL": "WARNING",
    }


def build_world(
    env: dict[str, str], refresh_tokens: int, builder: str = "bench.world"
) -> dict[str, Any]:
    """Migrate the database and build a world (`builder`'s `build`) in it, in a process of its
    own with the server's settings; returns what the load needs."""
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
    arguments = f", refresh_tokens={refresh_tokens}" if builder == "bench.world" else ""
    script = (
        "import json, sys\n"
        "from authserver import create_app\n"
        f"from {builder} import build\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    json.dump(build(app.config['SETTINGS']{arguments}), sys.stdout)\n"
    )
    done = subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"building the bench world failed:\n{done.stderr}")
    return json.loads(done.stdout)


def sign_in_cookie(base: str, admin: dict[str, str]) -> str:
    """A school admin's session cookie, from signing in as a browser does."""
    browser = requests.Session()
    page = browser.get(f"{base}/sign-in", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    signed_in = browser.post(
        f"{base}/sign-in",
        data={"csrf_token": token, "email": admin["email"], "password": admin["password"]},
        timeout=10,
    )
    signed_in.raise_for_status()
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def operations(base: str, world: dict[str, Any], pool: list[Path]) -> list[Operation]:
    """The operations the issue names, against a server holding `world`."""
    client = basic(world["client_id"], world["client_secret"])
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": client}
    secret_form = {
        "grant_type": SCHOOL_SECRET_GRANT,
        "school_id": str(world["school_id"]),
        "school_secret": world["school_secret"],
        "scope": world["token_scope"],
    }
    token = requests.post(
        f"{base}/oauth/token", data=secret_form, headers={"Authorization": client}, timeout=10
    )
    token.raise_for_status()
    access = token.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    resource_server = world["resource_server"]
    consent_query = urlencode(
        {
            "response_type": "code",
            "client_id": world["consent_client_id"],
            "redirect_uri": world["consent_redirect_uri"],
            "scope": world["consent_scope"],
            "state": "bench-state",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
    )
    cookie = sign_in_cookie(base, world["admin"])
    since = world["delta_since"].replace("+00:00", "Z")
    return [
        Operation(
            "token_client_credentials",
            "token: client_credentials",
            "POST",
            "/oauth/token",
            form,
            "grant_type=client_credentials",
        ),
        Operation(
            "token_school_secret",
            "token: school secret",
            "POST",
            "/oauth/token",
            form,
            urlencode(secret_form),
        ),
        Operation(
            "refresh",
            "token: refresh",
            "POST",
            "/oauth/token",
            form,
            "grant_type=refresh_token&refresh_token={value}",
            pool=pool,
        ),
        Operation(
            "introspection",
            "introspection",
            "POST",
            "/oauth/introspect",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": basic(
                    resource_server["client_id"], resource_server["client_secret"]
                ),
            },
            urlencode({"token": access, "token_type_hint": "access_token"}),
        ),
        Operation(
            "student_by_id",
            "API: one student",
            "GET",
            f"/api/v1/students/{world['student_id']}",
            bearer,
        ),
        Operation(
            "students_page",
            "API: 1,000 students",
            "GET",
            "/api/v1/students?limit=1000",
            bearer,
            records=1000,
        ),
        Operation(
            "delta",
            "API: delta",
            "GET",
            f"/api/v1/students?updated_after={since}",
            bearer,
        ),
        Operation(
            "consent_page",
            "consent page",
            "GET",
            f"/oauth/authorize?{consent_query}",
            {"Cookie": cookie},
        ),
    ]


def check_operations(base: str, ops: list[Operation]) -> None:
    """Each operation once, by hand, so that a broken setup fails loudly rather than fast."""
    for op in ops:
        if op.pool is not None:
            continue
        response = requests.request(
            op.method, base + op.path, headers=op.headers, data=op.body or None, timeout=10
        )
        if response.status_code != 200:
            raise RuntimeError(f"{op.name}: {response.status_code} {response.text[:300]}")
        if op.name == "students_page" and len(response.json()["data"]) != op.records:
            raise RuntimeError(f"students_page returned {len(response.json()['data'])} records")


# --- Running and reporting -------------------------------------------------------------------


SCALE_OPERATIONS = ("token_school_secret", "introspection")


def write_pool(folder: Path, values: list[str], rounds: int) -> list[Path]:
    """Split single-use values into one file a round."""
    folder.mkdir(parents=True, exist_ok=True)
    share = len(values) // rounds
    files = []
    for index in range(rounds):
        path = folder / f"refresh-tokens-{index}.txt"
        path.write_text("\n".join(values[index * share : (index + 1) * share]) + "\n")
        files.append(path)
    return files


def measure(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """Every round of every operation; returns the report and, on a scale run, the plans."""
    ops_wanted = set(args.only.split(",")) if args.only else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    floor_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results: dict[str, dict[str, list[Result]]] = {}
    floor: list[Result] = []
    labels: dict[str, tuple[str, int]] = {}
    plans = None
    refresh_pool_size = int(args.duration * args.repeats * args.refresh_rate_ceiling)
    try:
        with gunicorn("bench.floor:app", floor_env, args.workers) as (floor_base, floor_pid):
            floor_op = Operation("floor", "floor")

            def rounds(backend: str, base: str, pid: int, ops: list[Operation]) -> None:
                series = results.setdefault(backend, {op.name: [] for op in ops})
                for round_number in range(1, args.repeats + 1):
                    floor.append(run_wrk(floor_base, floor_op, args, floor_pid))
                    for op in ops:
                        series[op.name].append(run_wrk(base, op, args, pid, round_number - 1))
                    print(f"[{backend}] round {round_number}/{args.repeats} done", flush=True)

            for backend, url in database_urls(args, workdir).items():
                print(f"[{backend}] building the world", flush=True)
                port = free_port()
                env = server_env(url, workdir / backend, f"http://127.0.0.1:{port}")
                world = build_world(env, refresh_pool_size)
                pool = write_pool(workdir / backend, world.pop("refresh_tokens"), args.repeats)
                with gunicorn("wsgi:app", env, args.workers) as (base, pid):
                    ops = operations(base, world, pool)
                    if ops_wanted:
                        ops = [op for op in ops if op.name in ops_wanted]
                    check_operations(base, ops)
                    labels.update({op.name: (op.label, op.records) for op in ops})
                    rounds(backend, base, pid, ops)
                    if args.scale and backend == "postgresql":
                        fill_to_scale(env, args)
                        rounds("postgresql at scale", base, pid, scale_operations(ops))
                        world_file = workdir / "world.json"
                        world_file.write_text(json.dumps(world))
                        plans = query_plans(env, world_file)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return summarise(args, floor, results, labels), plans


def scale_operations(ops: list[Operation]) -> list[Operation]:
    return [op for op in ops if op.name in SCALE_OPERATIONS]


def fill_to_scale(env: dict[str, str], args: argparse.Namespace) -> None:
    """Grow the database to a platform's size with `flask demo scale`, then measure again."""
    print("[postgresql] filling to scale (flask demo scale)", flush=True)
    sizes = [
        "--schools",
        str(args.scale_schools),
        "--applications",
        str(args.scale_applications),
        "--grants",
        str(args.scale_grants),
        "--tokens",
        str(args.scale_tokens),
    ]
    command = [str(VENV_BIN / "flask"), "--app", "wsgi", "demo", "scale", *sizes]
    subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603 (our own command)


def query_plans(env: dict[str, str], world_file: Path) -> str:
    command = [sys.executable, "-m", "bench.plans", str(world_file)]
    done = subprocess.run(  # noqa: S603 (our own command)
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


# --- MIS ingest ----------------------------------------------------------------------------------

#: In-process jobs (no broker) run a snapshot's application inside the commit request: the
#: worker must not be killed by gunicorn's 30 s default while it does.
INGEST_WORKER_TIMEOUT_S = 900


def http_send(base: str) -> ingest_bench.Send:
    """A `Send` over one keep-alive HTTP connection to `base`."""
    session = requests.Session()

    def send(
        method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, Any]:
        response = session.request(
            method, base + path, headers=headers, data=body, timeout=INGEST_WORKER_TIMEOUT_S
        )
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return response.status_code, response.json() if is_json else response.text

    return send


def measure_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """The ingest bench (bench/ingest.py) on each database, each against a fresh world."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    backends: dict[str, Any] = {}
    try:
        for backend, url in database_urls(args, workdir, "bench_ingest").items():
            print(f"[{backend}] ingest: building the world", flush=True)
            port = free_port()
            env = server_env(url, workdir / backend, f"http://127.0.0.1:{port}")
            world = build_world(env, 0, builder="bench.ingest")
            with gunicorn("wsgi:app", env, args.workers, INGEST_WORKER_TIMEOUT_S) as (base, _):
                backends[backend] = ingest_bench.measure(
                    http_send(base),
                    lambda base=base: http_send(base),
                    world,
                    pupils=args.ingest_pupils,
                    days=args.ingest_days,
                    readers=args.ingest_readers,
                    read_seconds=args.ingest_read_seconds,
                    log=lambda message, backend=backend: print(
                        f"[{backend}] {message}", flush=True
                    ),
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"machine": machine(), "workers": args.workers, "backends": backends}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (the median is reported)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--only", help="comma-separated operation names ('ingest' for the ingest bench alone)"
    )
    parser.add_argument(
        "--ingest",
        action="store_true",
        help="then the MIS ingest bench: a 2,000-pupil school's full snapshot over HTTP, a 1%% "
        "delta, and a vendor's reads alone and during the apply (minutes more)",
    )
    parser.add_argument("--ingest-pupils", type=int, default=ingest_bench.PUPILS)
    parser.add_argument("--ingest-days", type=int, default=ingest_bench.SCHOOL_DAYS)
    parser.add_argument("--ingest-readers", type=int, default=2, help="the vendor's connections")
    parser.add_argument("--ingest-read-seconds", type=float, default=10.0)
    parser.add_argument(
        "--refresh-rate-ceiling",
        type=int,
        default=1500,
        help="refresh tokens made per second of refresh load (the pool must not run out)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="on PostgreSQL, then fill to a platform's size and measure the token and "
        "introspection paths again (minutes more)",
    )
    parser.add_argument("--scale-schools", type=int, default=25_000)
    parser.add_argument("--scale-applications", type=int, default=200)
    parser.add_argument("--scale-grants", type=int, default=1_000_000)
    parser.add_argument("--scale-tokens", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if args.repeats < 3:
        parser.error("--repeats must be 3 or more: the report is a median")
    if args.scale and not os.environ.get("BENCH_DATABASE_URL"):
        parser.error("--scale needs PostgreSQL: set BENCH_DATABASE_URL")
    wanted = set(args.only.split(",")) if args.only else set()
    args.only = ",".join(wanted - {"ingest"})
    args.out.mkdir(parents=True, exist_ok=True)
    if wanted != {"ingest"}:
        report, plans = measure(args)
        if plans:
            (args.out / "plans.md").write_text(plans)
        (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "results.md").write_text(markdown(report))
        chart(report, args.out / "results.png")
        print(markdown(report))
        print(f"Written: {args.out / 'results.json'}, results.md and results.png")
    if args.ingest or "ingest" in wanted:
        ingest_report = measure_ingest(args)
        (args.out / "ingest.json").write_text(json.dumps(ingest_report, indent=2) + "\n")
        (args.out / "ingest.md").write_text(ingest_bench.markdown(ingest_report))
        print(ingest_bench.markdown(ingest_report))
        print(f"Written: {args.out / 'ingest.json'} and ingest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
