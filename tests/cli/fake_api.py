"""A tiny real HTTP server that answers as the idri API would, for the CLI client's own tests.

It serves canned answers by method and path (``http.server`` in a thread, on a free port) and
records every request it got: the CLI's client runs unchanged, over a real socket, and a test
reads what arrived. The end-to-end suite runs the real API (``stack.py``); this one checks what
only a scripted answer can show: each status the API may give, hostile data, the headers sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    url: str
    answers: dict[tuple[str, str], Answer]
    received: list[Received]

    def answer(self, method: str, path: str, status: int, body: Any = None, **headers: str) -> None:
        self.answers[(method, path)] = Answer(status, body, headers)


def _body(raw: bytes, content_type: str) -> Any:
    """JSON as parsed; an upload's raw bytes as they came."""
    if not raw:
        return None
    return json.loads(raw) if content_type.startswith("application/json") else raw


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    answers: dict[tuple[str, str], Answer] = {}
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            received.append(
                Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    _body(raw, self.headers.get("Content-Type", "")),
                )
            )
            found = answers.get(
                (self.command, self.path), Answer(404, {"detail": f"no route {self.path}"})
            )
            data = b"" if found.body is None else json.dumps(found.body).encode("utf-8")
            self.send_response(found.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in found.headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeApi(f"http://127.0.0.1:{server.server_address[1]}", answers, received)
    finally:
        server.shutdown()
        server.server_close()
