"""Our OTLP encoder writes exactly the bytes the SDK's message serializes to, and is installed only
while exporting."""

from __future__ import annotations

import pytest
from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
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
    big = "é" * 20000  # under two keys, as gen_ai.prompt shares input.value's string
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
                attributes={"s": "text", "empty": "", "short non-ascii": "café ☕",
                            "b": True, "i": 7, "f": 1.5, "strs": ["a", "b"], "ints": [1, 2],
                            "bools": [True, False], "floats": [0.5], "big": big, "same big": big,
                            "equal big": "é" * 20000},
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


def _sdk_bytes(spans: list) -> bytes:
    return sdk_encode_spans(spans).SerializeToString(deterministic=True)


def test_encodes_exactly_what_the_sdk_encodes_for_synthetic_spans() -> None:
    spans = _synthetic_spans()
    ours = otlp_encoding.encode_request(spans)
    assert ours == _sdk_bytes(spans)
    request = ExportTraceServiceRequest.FromString(ours)
    assert len(request.resource_spans) == 2 and len(request.resource_spans[0].scope_spans) == 2


def test_short_strings_kept_as_whole_fields_stay_exact_and_bounded(monkeypatch) -> None:
    """A (key, short value) is kept as its whole field; more distinct ones than the bound empty the
    cache instead of growing it, and the bytes are the SDK's either way."""
    monkeypatch.setattr(otlp_encoding, "_CACHE_MAX", 8)
    monkeypatch.setattr(otlp_encoding, "_SHORT_FIELDS", {})
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for index in range(20):  # the same key with ever new values, and a repeated one
        with provider.get_tracer("t").start_as_current_span(
                "span", attributes={"label": f"label-{index}", "kind": "LLM"}):
            pass
    spans = exporter.get_finished_spans()
    assert otlp_encoding.encode_request(spans) == _sdk_bytes(spans)
    assert 0 < len(otlp_encoding._SHORT_FIELDS) <= 8
    assert otlp_encoding.encode_request(spans) == _sdk_bytes(spans)  # from the kept fields, too


def test_identifiers_new_with_each_invocation_are_encoded_but_not_kept(monkeypatch) -> None:
    monkeypatch.setattr(otlp_encoding, "_SHORT_FIELDS", {})
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for index in range(3):
        with provider.get_tracer("t").start_as_current_span("span", attributes={
                "session.id": f"session-{index}", "gen_ai.tool.call.id": f"call_{index}", "kind": "TOOL"}):
            pass
    spans = exporter.get_finished_spans()
    assert otlp_encoding.encode_request(spans) == _sdk_bytes(spans)
    assert sorted(otlp_encoding._SHORT_FIELDS) == [("kind", "TOOL")]


def test_equal_resources_of_distinct_objects_share_one_group_as_in_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    for _ in range(2):  # equal resources, two objects
        provider = TracerProvider(resource=Resource.create({"service.name": "same"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("span"):
            pass
    spans = exporter.get_finished_spans()
    assert spans[0].resource is not spans[1].resource and spans[0].resource == spans[1].resource
    ours = otlp_encoding.encode_request(spans)
    assert ours == _sdk_bytes(spans)
    assert len(ExportTraceServiceRequest.FromString(ours).resource_spans) == 1


def test_encodes_exactly_what_the_sdk_encodes_for_a_pipeline_trace() -> None:
    spans = run_pipeline("offline:plan_rejections=1,code_rejections=1").spans
    assert len(spans) > 20
    assert otlp_encoding.encode_request(spans) == _sdk_bytes(spans)


def test_installed_while_exporting_over_http_and_removed_by_shutdown() -> None:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    from agentcreator import telemetry
    from agentcreator.config import load_settings

    otlp_encoding.uninstall()  # a shutdown that timed out elsewhere leaves it installed, for its export
    assert trace_exporter.encode_spans is sdk_encode_spans
    telemetry.configure_tracing(load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}))
    assert otlp_encoding.installed()
    assert trace_exporter.encode_spans(spans := _synthetic_spans()).SerializePartialToString() == _sdk_bytes(spans)
    telemetry.shutdown(timeout_s=1)
    assert trace_exporter.encode_spans is sdk_encode_spans


def test_grpc_exporter_translates_with_our_encoder() -> None:
    spans = _synthetic_spans()
    exporter_class, encoded = otlp_encoding.grpc_span_exporter_class()
    assert encoded
    exporter = exporter_class(endpoint="http://127.0.0.1:9", insecure=True)
    try:
        assert exporter._translate_data(spans) == sdk_encode_spans(spans)
    finally:
        exporter.shutdown()


def test_values_the_sdk_drops_or_fails_on() -> None:
    """Odd values: ints beyond int64 and None are dropped per key as the SDK drops them; negative
    ints and empty strings encode as the SDK's; a lone surrogate is replaced, not a failed batch."""
    from opentelemetry.sdk.trace import ReadableSpan

    context = SpanContext(trace_id=1, span_id=2, is_remote=False)
    odd = ReadableSpan(name="odd", context=context, resource=Resource.create({}),
                       attributes={"neg": -5, "max": 2**63 - 1, "empty": "", "": "no key"})
    assert otlp_encoding.encode_request([odd]) == _sdk_bytes([odd])

    huge = ReadableSpan(name="huge", context=context, resource=Resource.create({}), attributes={"big": 2**64, "ok": 1})
    assert otlp_encoding.encode_request([huge]) == _sdk_bytes([huge])  # both drop "big"

    broken = ReadableSpan(name="broken", context=context, resource=Resource.create({}),
                          attributes={"text": "a\ud800b"})
    span = ExportTraceServiceRequest.FromString(otlp_encoding.encode_request([broken])).resource_spans[0]
    assert span.scope_spans[0].spans[0].attributes[0].value.string_value == "a?b"


@pytest.mark.parametrize("limit", [4096, 4097, 4098])  # cuts landing on each byte of a 3-byte character
def test_strings_the_mapping_hands_on_encoded_make_the_same_request(limit) -> None:
    """The OTLP exporter's mapping hands cut and measured strings on as UTF-8: the request is byte
    for byte the one its string mapping makes, which is the SDK's."""
    from agentcreator.telemetry.genai import GenAiSpanExporter, Utf8Text

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for prompt in ("Réponds à l’appelant — " * 2000, "plain ascii " * 3000, "café " * 100, "x" * 10):
        attributes = {"openinference.span.kind": "LLM", "input.value": prompt, "output.value": prompt[:5000],
                      "llm.input_messages.0.message.content": prompt}
        tracer.start_span("LLM", attributes=attributes).end()
    spans = exporter.get_finished_spans()

    def mapped(encoded: bool) -> list:
        mapping = GenAiSpanExporter(exporter, max_content_bytes=limit, max_span_bytes=3 * limit,
                                    encoded_strings=encoded)
        return [mapping._mapped(span)[0] for span in spans]

    as_text, as_bytes = mapped(False), mapped(True)
    assert any(type(value) is Utf8Text for span in as_bytes for value in span.utf8_attributes.raw.values())
    for span in as_text + as_bytes:  # whoever reads a span's attributes sees valid OpenTelemetry values
        assert all(type(value) in (str, int, bool) for value in span.attributes.values())
    assert [dict(span.attributes) for span in as_bytes] == [dict(span.attributes) for span in as_text]
    assert otlp_encoding.encode_request(as_bytes) == otlp_encoding.encode_request(as_text) == _sdk_bytes(as_text)
    assert _sdk_bytes(as_bytes) == _sdk_bytes(as_text)  # the SDK's own encoder reads them as text
