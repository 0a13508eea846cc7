"""A local stand-in for Langfuse's public read API (simulated): ``GET /api/public/v2/observations``.

It answers 401 unless the request carries the Basic header it was given, lists one observation
for each trace id it has been told about (``add``), and an empty page for any other. It listens
on 127.0.0.1, an ephemeral port, and records every request's path.

    with LangfuseApi(authorization="Basic ...") as api:
        api.add(trace_id)
        reader = LangfuseReader(api.url, "Basic ...")
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OBSERVATIONS_PATH = "/api/public/v2/observations"


class LangfuseApi:
    def __init__(self, authorization: str) -> None:
        self.authorization = authorization
        self.requests: list[str] = []
        self._traces: set[str] = set()
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, body = api._answer(self.path, self.headers.get("Authorization", ""))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, trace_id: str) -> None:
        with self._lock:
            self._traces.add(trace_id)

    def _answer(self, path: str, authorization: str) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(path)
            parts = urlsplit(path)
            if parts.path != OBSERVATIONS_PATH:
                return 404, {"message": "not found"}
            if authorization != self.authorization:
                return 401, {"message": "Invalid credentials"}
            trace_id = parse_qs(parts.query).get("traceId", [""])[0]
            data = [{"id": "obs-1", "traceId": trace_id, "type": "SPAN"}] if trace_id in self._traces else []
            return 200, {"data": data, "meta": {"cursor": None}}

    def __enter__(self) -> LangfuseApi:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
