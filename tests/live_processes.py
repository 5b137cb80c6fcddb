"""Real processes for the concurrency and fault tests: gunicorn servers and a private PostgreSQL.

Used by tests/test_concurrency.py, tests/test_faults.py and the soak (tests/soak.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import requests
from flask import Flask

from tests.conftest import TEST_SECRET_KEY

SOURCE_ROOT = Path(__file__).resolve().parent.parent
# The key the `app` fixture uses: people enrolled through it (make_user) have their
# authenticator secrets sealed under it, and the live servers must unseal them.
LIVE_SECRET_KEY = TEST_SECRET_KEY


# For load runs: the rate limits are tested elsewhere; here they would only get in the way.
GENEROUS_RATE_LIMITS = {
    "TOKEN_REQUESTS_PER_CLIENT": "100000 per minute",
    "INTROSPECTION_REQUESTS_PER_RESOURCE_SERVER": "100000 per minute",
    "API_REQUESTS_PER_TOKEN": "100000 per minute",
}


class Unavailable(RuntimeError):
    """A service these processes need is missing on this machine (tests call `unavailable`)."""


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds, at most `timeout` seconds (bounded; no fixed delay)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        pause.wait(0.05)


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_on(database_url: str, instance_path: Path) -> Flask:
    """An app in this process on the live servers' database, configured as they are, to seed
    the world and inspect it afterwards."""
    from authserver import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(instance_path),
            "SECRET_KEY": LIVE_SECRET_KEY,
            "BCRYPT_ROUNDS": 4,
        }
    )


class LiveServer:
    """One gunicorn process (with its workers) serving `wsgi:app` on a loopback port."""

    def __init__(
        self,
        database_url: str,
        *,
        issuer: str | None = None,
        workers: int = 2,
        instance_path: Path,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = instance_path / f"gunicorn-{self.port}.log"
        instance_path.mkdir(parents=True, exist_ok=True)
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TEST_")},
            "DATABASE_URL": database_url,
            "APP_ENV": "testing",
            "SECRET_KEY": LIVE_SECRET_KEY,
            "ISSUER": issuer or self.url,
            "INSTANCE_PATH": str(instance_path),
            "BCRYPT_ROUNDS": "4",
            "REDIS_URL": "",
            **(environment or {}),
        }
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start gunicorn without waiting for it (see `wait_ready`)."""
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--graceful-timeout",
            "2",
            # Import the application once, then fork: workers start at once on a busy machine.
            "--preload",
            "wsgi:app",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, cwd=SOURCE_ROOT, env=self.environment, stdout=log, stderr=log
            )

    def wait_ready(self, *, timeout: float = 60) -> None:
        """Wait (bounded) until the server answers; stop it if it never does."""
        try:
            wait_for(self._ready, timeout=timeout, what=f"gunicorn on {self.url}")
        except (TimeoutError, RuntimeError):
            self.stop()
            raise

    def start(self) -> LiveServer:
        """Start gunicorn and wait until it answers."""
        self.launch()
        self.wait_ready()
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start:\n{self.log()}")
        try:
            # The metadata document needs no database: it answers as soon as a worker is up.
            answer = requests.get(f"{self.url}/.well-known/oauth-authorization-server", timeout=2)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop gunicorn (quickly, then for sure)."""
        self.ask_to_stop()
        self.wait_stopped()

    def ask_to_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # quick shutdown: nothing to drain

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(*servers: LiveServer) -> Iterator[list[LiveServer]]:
    """Start the servers side by side (each boots while the others do), stop them after."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield list(servers)
    finally:
        for server in servers:
            server.ask_to_stop()
        for server in servers:
            server.wait_stopped()


def postgres_binaries() -> Path | None:
    """The newest PostgreSQL server binaries installed the Debian way, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found += [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    usable = {b for b in found if (b / "initdb").exists() and (b / "pg_ctl").exists()}
    if not usable:
        on_path = shutil.which("pg_ctl")
        return Path(on_path).parent if on_path and shutil.which("initdb") else None

    def version(path: Path) -> tuple[int, ...]:
        name = path.parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    return max(usable, key=version)


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary folder, on a free port, trust auth, so a
    test may stop and start it without touching anybody else's server."""

    def __init__(self) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.binaries = binaries
        # PostgreSQL refuses to run as root: as root we run it as the `postgres` account.
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no `postgres` account") from None
            if shutil.which("runuser") is None:
                raise Unavailable("running as root and there is no runuser to drop privileges")
            self.run_as = account.pw_name
        self.root = Path(tempfile.mkdtemp(prefix="authserver-pg-"))
        if self.run_as is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.stops = 0

    def _run(self, program: str, *arguments: str, timeout: float = 60) -> None:
        command = [str(self.binaries / program), *arguments]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(  # noqa: S603 (our own binaries and arguments)
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}\n{result.stderr}\n{self.log()}")

    def log(self) -> str:
        path = self.root / "postgres.log"
        try:
            return path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> PrivatePostgres:
        """Create the cluster and start it."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",  # a throwaway cluster: its files need not survive a power cut
        )
        return self.start()

    def start(self) -> PrivatePostgres:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session and aborts open transactions."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.stops += 1

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        if self.is_running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.init()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.remove()
