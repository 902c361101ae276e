"""A real webhook receiver for the tests: an HTTP server on loopback, in a thread of the test process,
that records every POST it gets (its JSON body) and can be told to refuse some with HTTP 500.

    with WebhookReceiver() as hook:
        ...  # configure [notify] url = hook.url
        wait_until(lambda: len(hook.calls) == 2, 30, "two posts")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


def first_post_of_each_run() -> Callable[[dict], bool]:
    """A `refuse` that answers 500 to the first post about each run, 200 to the later ones."""
    seen: set[str] = set()

    def refuse(body: dict) -> bool:
        run_id = body["run"]["id"]
        first = run_id not in seen
        seen.add(run_id)
        return first

    return refuse


class WebhookReceiver:
    """`calls`: every post's JSON body, in arrival order, refused ones included (their index in `refused`).
    `refuse(body) -> bool` decides which posts get a 500 (default: none)."""

    def __init__(self, refuse: Callable[[dict], bool] = lambda body: False) -> None:
        self.calls: list[dict] = []
        self.refused: list[int] = []
        self.refuse = refuse
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="webhook",
                                        daemon=True)  # polls for shutdown every 50 ms

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_port}/hook"

    def accepted(self) -> list[dict]:
        """The bodies answered 200."""
        with self._lock:
            return [body for i, body in enumerate(self.calls) if i not in self.refused]

    def run_ids(self) -> list[str]:
        """The run ids of the accepted posts, in arrival order (duplicates kept)."""
        return [body["run"]["id"] for body in self.accepted()]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                with receiver._lock:
                    receiver.calls.append(body)
                    refused = receiver.refuse(body)
                    if refused:
                        receiver.refused.append(len(receiver.calls) - 1)
                self.send_response(500 if refused else 200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"no" if refused else b"ok")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
                pass  # quiet test output

        return Handler
