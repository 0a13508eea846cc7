"""A quiet HTTP/1.1 server on the loopback interface, for local receivers (the demo's metrics
receiver, and the sinks and stand-ins of the tests and benchmarks).

It listens on 127.0.0.1 with an ephemeral port unless told otherwise, serves each request on its
own daemon thread, logs nothing, and hands every request to one function that returns the answer;
``with`` starts and stops it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self


@dataclass
class HttpRequest:
    method: str
    path: str  # with its query string, as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float = field(default_factory=time.monotonic)


# (status, content type, body)
Answer = tuple[int, str, bytes]


class LoopbackHttpServer:
    """``answer(request)`` is called for every GET, POST and PUT, on the request's thread."""

    def __init__(self, answer: Callable[[HttpRequest], Answer], *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "loopback-http") -> None:
        self._name = name
        self._started = False

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, content_type, payload = answer(HttpRequest(self.command, self.path, headers, body))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        """``http://host:port``, no trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True).start()
        self._started = True
        return self

    def stop(self) -> None:
        """Stop serving (if it ever started) and close the socket."""
        if self._started:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
