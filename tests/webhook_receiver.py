"""A vendor's webhook receiver for tests: a real threaded HTTP server on loopback whose
behaviour a test switches (answer, fail with 500, hang, hang up, trickle)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = ("ok", "500", "hang", "close", "redirect", "trickle")
TRICKLE_EVERY = 0.05  # seconds between the bytes of a trickled answer: well inside any timeout


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answer: str = "ok"


class Receiver:
    """Records every POST and answers it with the next of `answers`, then with `mode` once they
    run out: "ok" (204), "500", "hang" (say nothing until released), "close" (hang up without a
    word), "redirect" (302) or "trickle" (an endless header, one byte at a time, until
    released). `connections` counts every connection accepted, answered or not. It listens on
    `host` (any of 127.0.0.0/8 on Linux), on `port` or a free one."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self.answers: list[str] = []
        self.mode = "ok"
        self.connections = 0
        self.release = threading.Event()  # lets hung and trickling answers go at the end
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.answers.pop(0) if receiver.answers else receiver.mode
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), body, answer)
                )
                if answer == "trickle":
                    self.trickle()
                    return
                if answer == "hang":
                    receiver.release.wait(30)  # past the worker's timeout
                if answer in {"hang", "close"}:
                    self.close_connection = True  # hang up without a word
                    return
                status = {"ok": 204, "500": 500, "redirect": 302}[answer]
                self.send_response(status)
                if answer == "redirect":
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def trickle(self) -> None:
                # A slow-loris answer: each byte comes well within a per-read timeout.
                self.close_connection = True
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not receiver.release.wait(TRICKLE_EVERY):
                    self.wfile.write(b"z")
                    self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: object, client_address: object) -> bool:
                receiver.connections += 1
                return True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a hung answer

        self.server = Server((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/school-data"

    @property
    def answered(self) -> list[Received]:
        """The requests answered with a 2xx: the deliveries that counted."""
        return [received for received in self.requests if received.answer == "ok"]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connection_data(**data) -> dict[str, object]:
    """A connection event's data, with `data` put over a revoked connection's."""
    return {
        "school_id": 1,
        "school_urn": "100000",
        "grant_version": 1,
        "scopes": [],
        "restrictions": {},
        **data,
    }
