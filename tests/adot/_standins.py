"""Local stand-ins for the collector's backends, each a real HTTP server on 127.0.0.1 (ephemeral port).

Simulated, not AWS: they accept what the real service would and record it, so a test can read what
a real collector sent — OTLP to Langfuse or X-Ray's OTLP endpoint, segment documents to
PutTraceSegments, EMF events to CloudWatch Logs — and the ECS task metadata it reads.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentcreator.loopback_http import Answer, HttpRequest, LoopbackHttpServer
from tests.support.otlp_sink import decode_request

if TYPE_CHECKING:
    from collections.abc import Callable


class StandIn:
    """Records every request; ``answer(request)`` returns (status, content type, body)."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.status = 200  # what an OTLP stand-in answers; tests set 401/503 to play a failing backend
        self._lock = threading.Condition()
        self._server = LoopbackHttpServer(self._record)

    def _record(self, request: HttpRequest) -> Answer:
        if request.headers.get("content-encoding", "").lower() == "gzip":
            request = replace(request, body=gzip.decompress(request.body))
        answer = self.answer(request)
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        return answer

    def answer(self, request: HttpRequest) -> Answer:
        return 200, "application/json", b"{}"

    @property
    def url(self) -> str:
        return self._server.url

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.5))
        return True

    def __enter__(self) -> StandIn:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()


class OtlpStandIn(StandIn):
    """Langfuse's or X-Ray's OTLP/HTTP traces endpoint: keeps the spans of every accepted request."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.spans: list[dict[str, Any]] = []  # each with "arrived" (monotonic seconds)
        self.max_span_bytes = 0  # the largest span's OTLP protobuf size

    def answer(self, request: HttpRequest) -> Answer:
        if request.path.split("?", 1)[0] != self.path:
            return 404, "text/plain", b"not found"
        if self.status != 200:
            return self.status, "text/plain", b"refused by the test"
        spans = decode_request(request.body)
        parsed = ExportTraceServiceRequest()
        parsed.ParseFromString(request.body)
        sizes = [s.ByteSize() for r in parsed.resource_spans for ss in r.scope_spans for s in ss.spans]
        largest = max(sizes, default=0)
        for span in spans:
            span["arrived"] = request.at
        with self._lock:
            self.spans.extend(spans)
            self.max_span_bytes = max(self.max_span_bytes, largest)
        return 200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [span for span in self.spans if span["trace_id"] == trace_id]


class XRayApiStandIn(StandIn):
    """X-Ray's PutTraceSegments (REST-JSON ``POST /TraceSegments``): keeps each segment document as sent."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[str] = []

    def answer(self, request: HttpRequest) -> Answer:
        if request.method == "POST" and request.path.startswith("/TraceSegments"):
            documents = json.loads(request.body)["TraceSegmentDocuments"]
            with self._lock:
                self.documents.extend(documents)
            return 200, "application/json", json.dumps({"UnprocessedTraceSegments": []}).encode()
        return 200, "application/json", b"{}"


class LogsStandIn(StandIn):
    """CloudWatch Logs (JSON 1.1, ``X-Amz-Target: Logs_20140328.*``): keeps every EMF event written."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def answer(self, request: HttpRequest) -> Answer:
        target = request.headers.get("x-amz-target", "")
        if target.endswith(".PutLogEvents"):
            body = json.loads(request.body)
            with self._lock:
                for event in body.get("logEvents", []):
                    self.events.append({"group": body.get("logGroupName"), **json.loads(event["message"])})
            return 200, "application/x-amz-json-1.1", b'{"nextSequenceToken": "1"}'
        return 200, "application/x-amz-json-1.1", b"{}"

    def metric_values(self, name: str) -> list[float]:
        """Every value an EMF event carried for ``name`` (one per event that has it)."""
        with self._lock:
            return [float(event[name]) for event in self.events if name in event]


class EcsMetadataStandIn(StandIn):
    """The ECS task metadata endpoint v4 (``ECS_CONTAINER_METADATA_URI_V4``), for a Fargate task."""

    ACCOUNT = "123456789012"

    def answer(self, request: HttpRequest) -> Answer:
        arn = f"arn:aws:ecs:us-east-1:{self.ACCOUNT}"
        container = {
            "DockerId": "abc123", "Name": "collector", "DockerName": "collector",
            "ContainerARN": f"{arn}:container/dev/task1/abc123", "Image": "aws-otel-collector:v0.49.0",
            "LogDriver": "awslogs",
            "LogOptions": {"awslogs-group": "/agentcreator/dev/collector", "awslogs-region": "us-east-1",
                           "awslogs-stream": "collector/collector/task1"},
        }
        if request.path.rstrip("/").endswith("/task"):
            task = {"Cluster": f"{arn}:cluster/dev", "TaskARN": f"{arn}:task/dev/task1", "Family": "agentcreator",
                    "Revision": "1", "AvailabilityZone": "us-east-1a", "LaunchType": "FARGATE",
                    "Containers": [container]}
            return 200, "application/json", json.dumps(task).encode()
        return 200, "application/json", json.dumps(container).encode()
