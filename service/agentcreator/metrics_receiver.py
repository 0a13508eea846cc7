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
from typing import Any

from agentcreator.loopback_http import Answer, HttpRequest, LoopbackHttpServer

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
        self._server = LoopbackHttpServer(self._answer, name="metrics-receiver")

    def _answer(self, request: HttpRequest) -> Answer:
        if request.method != "POST" or request.path.split("?", 1)[0] != METRICS_PATH:
            return 404, "application/x-protobuf", b""
        try:
            gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
            points = decode(gzip.decompress(request.body) if gzipped else request.body)
        except Exception:
            return 400, "application/x-protobuf", b""
        with self._lock:
            self._points.extend(points)
        return 200, "application/x-protobuf", b""

    @property
    def metrics_url(self) -> str:
        return self._server.url + METRICS_PATH

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
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
