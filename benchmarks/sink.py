"""A quiet OTLP/HTTP receiver for benchmarks: answers 200 and counts, without decoding.

The tests' sink decodes every span into dicts; in a benchmark that decoding would run on the
same two cores as the process being measured, so here the bodies are read and dropped.
"""

from __future__ import annotations

import sys
import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentcreator.loopback_http import Answer, HttpRequest, LoopbackHttpServer

_OK = ExportTraceServiceResponse().SerializeToString()


class QuietSink:
    """``with QuietSink() as sink: sink.endpoint`` — a base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._server = LoopbackHttpServer(self._answer, name="quiet-sink")

    def _answer(self, request: HttpRequest) -> Answer:
        with self._lock:
            self.requests += 1
            self.bytes += len(request.body)
        return 200, "application/x-protobuf", _OK

    @property
    def endpoint(self) -> str:
        return self._server.url

    def __enter__(self) -> QuietSink:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()


def serve_forever() -> None:
    """``python -m benchmarks.sink``: run a sink in its own process; prints its endpoint."""
    with QuietSink() as sink:
        print(sink.endpoint, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    serve_forever()
