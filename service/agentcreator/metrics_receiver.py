"""A small local OTLP/HTTP metrics receiver, for the demo: Phoenix takes traces only.

It listens on 127.0.0.1 (an ephemeral port), accepts ``POST /v1/metrics`` bodies of
``ExportMetricsServiceRequest`` (protobuf, optionally gzip), and keeps each data point's
metric name, attributes and value (a sum's value, a histogram's count); anything else is a 404.

    with LocalMetricsReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = receiver.metrics_url
        ...
        receiver.total("agentcreator.invocations", **{"agentcreator.outcome": "success"})
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

METRICS_PATH = "/v1/metrics"


@dataclass(frozen=True)
class Point:
    name: str
    attributes: dict[str, Any]
    value: float  # a sum's value, or a histogram's count
    resource: dict[str, Any]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "bool_value", "int_value", "double_value") else None


def decode(body: bytes) -> list[Point]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    points = []
    for resource_metrics in request.resource_metrics:
        resource = {item.key: _value(item.value) for item in resource_metrics.resource.attributes}
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    if kind in ("histogram", "exponential_histogram"):
                        value = float(point.count)
                    else:
                        value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
                    attributes = {item.key: _value(item.value) for item in point.attributes}
                    points.append(Point(metric.name, attributes, value, resource))
    return points


class LocalMetricsReceiver:
    """Keeps what it receives; a context manager that starts and stops the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: list[Point] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 404
                if self.path.split("?", 1)[0] == METRICS_PATH:
                    try:
                        gzipped = self.headers.get("Content-Encoding", "").lower() == "gzip"
                        points = decode(gzip.decompress(body) if gzipped else body)
                    except Exception:
                        status = 400
                    else:
                        status = 200
                        with receiver._lock:
                            receiver._points.extend(points)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def metrics_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{METRICS_PATH}"

    def points(self) -> list[Point]:
        with self._lock:
            return list(self._points)

    def names(self) -> set[str]:
        return {point.name for point in self.points()}

    def total(self, name: str, **attributes: Any) -> float:
        """The sum of a metric's values (a histogram's counts) over points with these attributes."""
        return sum(point.value for point in self.points() if point.name == name
                   and all(point.attributes.get(key) == value for key, value in attributes.items()))

    def __enter__(self) -> LocalMetricsReceiver:
        threading.Thread(target=self._server.serve_forever, name="metrics-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
