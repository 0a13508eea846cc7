"""A real OTLP/HTTP trace and metrics receiver for tests and benchmarks: decodes protobuf requests.

It listens on 127.0.0.1 (an ephemeral port), accepts ``POST /v1/traces`` bodies of
``ExportTraceServiceRequest`` (protobuf, optionally gzip), and keeps every span as a plain
dict. It can be told to answer another status (e.g. 503) to play a failing collector.
``POST /v1/metrics`` (``ExportMetricsServiceRequest``) is kept apart: ``metric_points()`` holds
each data point, ``metric_requests``/``metric_headers`` count those requests only.

    with OtlpSink() as sink:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint      # base URL; sink.traces_url is the full one
        ...                                                   # run something that exports
        spans = sink.wait_for(lambda s: any(x["name"] == "AgentCreator Invocation" for x in s))
        root = sink.spans(trace_id=spans[0]["trace_id"], name="AgentCreator Invocation")[0]
        assert root["status_code"] == "OK" and root["resource"]["service.name"] == "agentcreator-meta-agent"

Each span dict: ``trace_id``, ``span_id``, ``parent_span_id`` (hex; None for a root), ``name``,
``kind``, ``attributes`` (decoded values), ``status_code`` (``UNSET``/``OK``/``ERROR``),
``status_message``, ``resource`` (resource attributes), ``scope``, ``start_ns``, ``end_ns``.
"""

from __future__ import annotations

import gzip
import threading
import time
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agentcreator.loopback_http import Answer, HttpRequest, LoopbackHttpServer

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
_STATUS = {Status.STATUS_CODE_UNSET: "UNSET", Status.STATUS_CODE_OK: "OK", Status.STATUS_CODE_ERROR: "ERROR"}


def decode_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as the Python value it carries."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, kind)


def decode_attributes(items: list[KeyValue] | Any) -> dict[str, Any]:
    return {item.key: decode_value(item.value) for item in items}


def decode_request(body: bytes) -> list[dict[str, Any]]:
    """Every span of one ``ExportTraceServiceRequest`` as a plain dict."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex() or None,
                    "name": span.name,
                    "kind": Span.SpanKind.Name(span.kind),
                    "attributes": decode_attributes(span.attributes),
                    "status_code": _STATUS.get(span.status.code, str(span.status.code)),
                    "status_message": span.status.message,
                    "resource": resource,
                    "scope": scope_spans.scope.name,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                })
    return spans


def _temporality(data: Any) -> str:
    return {1: "DELTA", 2: "CUMULATIVE"}.get(getattr(data, "aggregation_temporality", 0), "UNSPECIFIED")


def decode_metrics_request(body: bytes) -> list[dict[str, Any]]:
    """Every data point of one ``ExportMetricsServiceRequest`` as a plain dict: ``name``, ``unit``,
    ``kind`` (sum, gauge, histogram, exponential_histogram), ``temporality``, ``attributes``,
    ``resource``, ``scope`` and ``value`` (a number), or ``count``/``sum`` for histograms."""
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    points: list[dict[str, Any]] = []
    for resource_metrics in request.resource_metrics:
        resource = decode_attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                for point in data.data_points:
                    entry = {"name": metric.name, "unit": metric.unit, "kind": kind, "temporality": _temporality(data),
                             "attributes": decode_attributes(point.attributes), "resource": resource,
                             "scope": scope_metrics.scope.name}
                    if kind in ("histogram", "exponential_histogram"):
                        entry.update(count=point.count, sum=point.sum)
                    else:
                        entry["value"] = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                    points.append(entry)
    return points


class OtlpSink:
    """Collects exported spans; thread-safe; a context manager that starts and stops the server."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Condition()
        self._spans: list[dict[str, Any]] = []
        self._status = 200
        self.requests = 0  # export requests received, whatever was answered
        self.headers: list[dict[str, str]] = []  # each request's headers, names lower-cased
        self._points: list[dict[str, Any]] = []
        self.metric_requests = 0
        self.metric_headers: list[dict[str, str]] = []
        self._server = LoopbackHttpServer(self._answer, host=host, port=port, name="otlp-sink")

    def _answer(self, request: HttpRequest) -> Answer:
        if request.path.split("?", 1)[0] == METRICS_PATH:
            status = self._receive_metrics(request.headers, request.body)
            payload = ExportMetricsServiceResponse().SerializeToString() if status == 200 else b""
        else:
            with self._lock:
                self.headers.append(request.headers)
            status = self._receive(request.path, request.headers.get("content-encoding", ""), request.body)
            payload = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
        return status, "application/x-protobuf", payload

    @property
    def endpoint(self) -> str:
        """Base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it."""
        return self._server.url

    @property
    def traces_url(self) -> str:
        return self.endpoint + TRACES_PATH

    def respond_with(self, status: int) -> None:
        """Answer every later export with ``status`` (its spans are then not kept); 200 restores."""
        with self._lock:
            self._status = status

    def _receive(self, path: str, encoding: str, body: bytes) -> int:
        with self._lock:
            self.requests += 1
            status = self._status
        if path.split("?", 1)[0] != TRACES_PATH:
            return 404
        if status != 200:
            return status
        try:
            spans = decode_request(gzip.decompress(body) if encoding.lower() == "gzip" else body)
        except Exception:
            return 400
        with self._lock:
            self._spans.extend(spans)
            self._lock.notify_all()
        return 200

    def _receive_metrics(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.metric_requests += 1
            self.metric_headers.append(headers)
            status = self._status
        if status != 200:
            return status
        try:
            points = decode_metrics_request(gzip.decompress(body) if headers.get("content-encoding") == "gzip"
                                            else body)
        except Exception:
            return 400
        with self._lock:
            self._points.extend(points)
            self._lock.notify_all()
        return 200

    def metric_points(self, name: str | None = None) -> list[dict[str, Any]]:
        """Metric data points received so far, optionally only one metric's."""
        with self._lock:
            return [point for point in self._points if name is None or point["name"] == name]

    def wait_for_metrics(self, predicate: Callable[[list[dict[str, Any]]], bool],
                         timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``predicate(all metric points)`` holds; AssertionError after ``timeout`` seconds."""
        return self._wait(self._points, predicate, timeout, "metric points")

    def spans(self, *, trace_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Spans received so far, optionally only one trace's or one name's."""
        with self._lock:
            return [
                span for span in self._spans
                if (trace_id is None or span["trace_id"] == trace_id) and (name is None or span["name"] == name)
            ]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``predicate(all spans)`` holds; AssertionError after ``timeout`` seconds."""
        return self._wait(self._spans, predicate, timeout, "spans")

    def _wait(self, received: list[dict[str, Any]], predicate: Callable[[list[dict[str, Any]]], bool],
              timeout: float, what: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(list(received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"OTLP sink: condition not met within {timeout} s ({len(received)} {what})")
                self._lock.wait(left)
            return list(received)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()

    def start(self) -> OtlpSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class GrpcOtlpSink(OtlpSink):
    """The same sink over OTLP/gRPC: ``endpoint`` is ``http://127.0.0.1:PORT``; ``headers`` holds
    each call's metadata and ``compression`` whether it came gzip-compressed."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        super().__init__(host)  # an HTTP server that is never started: only its state is used
        self._server.stop()
        sink = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:  # noqa: N802
                with sink._lock:
                    sink.requests += 1
                    sink.headers.append({key: value for key, value in context.invocation_metadata()})
                    sink._spans.extend(decode_request(request.SerializeToString()))
                    sink._lock.notify_all()
                return ExportTraceServiceResponse()

        class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: ExportMetricsServiceRequest, context: Any) -> ExportMetricsServiceResponse:  # noqa: N802
                with sink._lock:
                    sink.metric_requests += 1
                    sink.metric_headers.append({key: value for key, value in context.invocation_metadata()})
                    sink._points.extend(decode_metrics_request(request.SerializeToString()))
                    sink._lock.notify_all()
                return ExportMetricsServiceResponse()

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self._grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsServicer(), self._grpc)
        self._port = self._grpc.add_insecure_port(f"{host}:0")
        self._host = host

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self) -> GrpcOtlpSink:
        self._grpc.start()
        return self

    def stop(self) -> None:
        self._grpc.stop(grace=None)
