"""Our in-place OTLP encoder builds exactly the SDK's message, and is installed only while exporting."""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from agentcreator.telemetry import otlp_encoding
from tests.unit.conftest import run_pipeline


def _synthetic_spans() -> list:
    """Every field the encoder writes: kinds, remote parents, trace state, events, links, arrays, status."""
    exporter = InMemorySpanExporter()
    spans = []
    for name in ("svc-a", "svc-b"):  # two resources
        provider = TracerProvider(resource=Resource.create({"service.name": name, "k": [1, 2]}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        plain = provider.get_tracer("plain")
        versioned = provider.get_tracer("versioned", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0",
                                        attributes={"scope.attr": "x"})
        remote = SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True, trace_flags=TraceFlags(1),
                             trace_state=TraceState([("vendor", "value")]))
        token = context.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
        try:
            with versioned.start_as_current_span(
                "server", kind=SpanKind.SERVER,
                attributes={"s": "text", "b": True, "i": 7, "f": 1.5, "strs": ["a", "b"], "ints": [1, 2],
                            "bools": [True, False], "floats": [0.5], "big": "é" * 20000},
                links=[Link(remote, {"link.attr": "y"})],
            ) as span:
                span.add_event("happened", {"count": 3, "what": "it"})
                span.set_status(Status(StatusCode.ERROR, "broke"))
                with plain.start_as_current_span("child", kind=SpanKind.CLIENT):
                    pass
        finally:
            context.detach(token)
    spans.extend(exporter.get_finished_spans())
    return spans


def test_encodes_exactly_what_the_sdk_encodes_for_synthetic_spans() -> None:
    spans = _synthetic_spans()
    ours, theirs = otlp_encoding.encode_spans(spans), sdk_encode_spans(spans)
    assert ours == theirs
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert len(ours.resource_spans) == 2 and len(ours.resource_spans[0].scope_spans) == 2


def test_equal_resources_of_distinct_objects_share_one_group_as_in_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    for _ in range(2):  # equal resources, two objects
        provider = TracerProvider(resource=Resource.create({"service.name": "same"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("span"):
            pass
    spans = exporter.get_finished_spans()
    assert spans[0].resource is not spans[1].resource and spans[0].resource == spans[1].resource
    ours, theirs = otlp_encoding.encode_spans(spans), sdk_encode_spans(spans)
    assert ours == theirs and len(ours.resource_spans) == 1


def test_encodes_exactly_what_the_sdk_encodes_for_a_pipeline_trace() -> None:
    spans = run_pipeline("offline:plan_rejections=1,code_rejections=1").spans
    assert len(spans) > 20
    ours, theirs = otlp_encoding.encode_spans(spans), sdk_encode_spans(spans)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def test_installed_while_exporting_over_http_and_removed_by_shutdown() -> None:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    from agentcreator import telemetry
    from agentcreator.config import load_settings

    assert trace_exporter.encode_spans is sdk_encode_spans
    telemetry.configure_tracing(load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}))
    assert trace_exporter.encode_spans is otlp_encoding.encode_spans
    telemetry.shutdown(timeout_s=1)
    assert trace_exporter.encode_spans is sdk_encode_spans


def test_grpc_exporter_translates_with_our_encoder() -> None:
    spans = _synthetic_spans()
    exporter = otlp_encoding.grpc_span_exporter_class()(endpoint="http://127.0.0.1:9", insecure=True)
    try:
        assert exporter._translate_data(spans) == sdk_encode_spans(spans)
    finally:
        exporter.shutdown()
