"""A quiet OTLP/HTTP receiver for benchmarks: answers 200 and counts, without decoding.

The tests' sink decodes every span into dicts; in a benchmark that decoding would run on the
same two cores as the process being measured, so here the bodies are read and dropped.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

_OK = ExportTraceServiceResponse().SerializeToString()


class QuietSink:
    """``with QuietSink() as sink: sink.endpoint`` — a base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    sink.requests += 1
                    sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(_OK)))
                self.end_headers()
                self.wfile.write(_OK)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> QuietSink:
        threading.Thread(target=self._server.serve_forever, name="quiet-sink", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_forever() -> None:
    """``python -m benchmarks.sink``: run a sink in its own process; prints its endpoint."""
    with QuietSink() as sink:
        print(sink.endpoint, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    serve_forever()
