from __future__ import annotations

import time

from opentelemetry.sdk._shared_internal import BatchExportStrategy
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentcreator import telemetry
from agentcreator.config import load_settings
from agentcreator.telemetry.export import DropCounter, DropCountingBatchSpanProcessor
from tests.support.held_exporter import HeldExporter
from tests.unit.conftest import run_pipeline


def test_console_output_only_when_debug_and_on_stderr(capsys) -> None:
    run_pipeline("offline", {"OTEL_DEBUG": "true"})
    debug = capsys.readouterr()
    assert '"name": "AgentCreator Invocation"' in debug.err
    assert debug.out == ""  # stdout carries results (agentcreator run > out.json)
    run_pipeline("offline", {"OTEL_DEBUG": "false"})
    assert "AgentCreator Invocation" not in capsys.readouterr().err


def test_the_console_exporter_as_the_sdk_names_it(capsys) -> None:
    run_pipeline("offline", {"OTEL_TRACES_EXPORTER": "console"})
    output = capsys.readouterr()
    assert output.err.count('"name": "AgentCreator Invocation"') == 1 and output.out == ""


def test_content_capture_switch_removes_prompts_and_completions() -> None:
    run = run_pipeline("offline", {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"})
    llm_spans = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert llm_spans
    for span in llm_spans:
        for key in ("gen_ai.prompt", "gen_ai.completion"):
            assert key not in span.attributes or span.attributes[key] == "__REDACTED__"
        assert span.attributes["gen_ai.usage.total_tokens"] > 0
    assert not any("Verify the caller's identity" in str(v) for s in run.spans for v in s.attributes.values())
    tools = [s for s in run.spans if s.name == "Code Interpreter Tool"]
    assert tools
    for span in tools:  # the tool's code and output are content too
        assert span.attributes["input.value"] == span.attributes["output.value"] == "__REDACTED__"
        assert "input.mime_type" not in span.attributes and "output.mime_type" not in span.attributes


def test_openinferences_own_switch_drops_the_message_copies_of_the_prompt(monkeypatch) -> None:
    monkeypatch.setenv("OPENINFERENCE_HIDE_INPUT_MESSAGES", "true")
    monkeypatch.setenv("OPENINFERENCE_HIDE_OUTPUT_MESSAGES", "true")
    run = run_pipeline("offline")
    llm_spans = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert llm_spans
    for span in llm_spans:
        assert not any(key.startswith(("llm.input_messages", "llm.output_messages")) for key in span.attributes)
        assert span.attributes["gen_ai.prompt"] == span.attributes["input.value"]
        assert span.attributes["gen_ai.completion"] and span.attributes["gen_ai.usage.total_tokens"] > 0


def test_long_content_is_truncated_to_the_limit() -> None:
    run = run_pipeline("offline", {"AGENTCREATOR_MAX_CONTENT_BYTES": "1024"})
    strings = [v for s in run.spans for v in s.attributes.values() if isinstance(v, str)]
    assert any("…[truncated" in v for v in strings)
    assert max(len(v.encode()) for v in strings) <= 1024 + len("…[truncated 9999999 bytes]".encode())


def test_configure_is_idempotent_and_shutdown_is_bounded() -> None:
    # a black-holed endpoint: nothing listens on this reserved port, so export fails fast or hangs
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    first = telemetry.configure_tracing(settings)
    assert telemetry.configure_tracing(settings) is first
    import time

    with telemetry.get_tracer().start_as_current_span("x"):
        pass
    started = time.perf_counter()
    telemetry.shutdown(timeout_s=1.0)
    assert time.perf_counter() - started < 3.0


def _string_bytes(span) -> int:
    return sum(len(v.encode()) for v in span.attributes.values() if isinstance(v, str))


def test_every_span_stays_within_the_span_budget_for_x_ray() -> None:
    big_sop = "# SOP\n" + "\n".join(f"{i}. Verify step {i} of the procedure carefully." * 8 for i in range(1, 60))
    run = run_pipeline("offline", {"AGENTCREATOR_MAX_SPAN_CONTENT_BYTES": "24576"}, sop=big_sop)
    llm_spans = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert max(_string_bytes(s) for s in llm_spans) <= 24576
    parse_sop_llm = max(llm_spans, key=_string_bytes)
    assert "…[truncated" in parse_sop_llm.attributes["gen_ai.prompt"]
    # short attributes stay whole while the long ones share the budget
    assert parse_sop_llm.attributes["gen_ai.system"] == "agentcreator.offline (simulated)"


def test_default_span_budget_keeps_llm_spans_under_x_rays_segment_limit() -> None:
    big_sop = "# SOP\n" + "\n".join(f"{i}. Verify step {i} of the procedure carefully." * 8 for i in range(1, 60))
    run = run_pipeline("offline", sop=big_sop)
    assert max(_string_bytes(s) for s in run.spans) <= 40960


class _RecordingExporter(SpanExporter):
    def __init__(self, fail_on_request: int | None = None) -> None:
        self.requests: list[list] = []
        self.fail_on_request = fail_on_request

    def export(self, spans):
        self.requests.append(list(spans))
        failed = len(self.requests) - 1 == self.fail_on_request
        return SpanExportResult.FAILURE if failed else SpanExportResult.SUCCESS


def _finished_spans(count: int, payload_bytes: int) -> list:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for index in range(count):
        provider.get_tracer("test").start_span(f"s{index}", attributes={"input.value": "x" * payload_bytes}).end()
    return list(memory.get_finished_spans())


def test_a_batch_goes_out_in_requests_of_bounded_size_in_order() -> None:
    from agentcreator.telemetry.genai import GenAiSpanExporter

    spans = _finished_spans(10, 3000)
    recorder = _RecordingExporter()
    exporter = GenAiSpanExporter(recorder, max_request_bytes=10_000)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert len(recorder.requests) == 4  # 3 spans of ~3.3 KB fit in 10 KB, the 10th goes alone
    assert [s.name for request in recorder.requests for s in request] == [s.name for s in spans]
    assert all(sum(_string_bytes(s) for s in request) <= 10_000 for request in recorder.requests)


def test_a_span_bigger_than_the_request_budget_still_goes_out_and_one_failed_request_fails_the_batch() -> None:
    from agentcreator.telemetry.genai import GenAiSpanExporter

    recorder = _RecordingExporter(fail_on_request=1)
    exporter = GenAiSpanExporter(recorder, max_request_bytes=1000)
    assert exporter.export(_finished_spans(3, 5000)) is SpanExportResult.FAILURE
    assert [len(request) for request in recorder.requests] == [1, 1, 1]  # the later requests still went


def test_a_failed_request_of_a_split_batch_counts_only_its_own_spans_as_dropped() -> None:
    from agentcreator.telemetry.export import CountingSpanExporter
    from agentcreator.telemetry.genai import GenAiSpanExporter

    class _Raising(_RecordingExporter):
        def export(self, spans):
            super().export(spans)
            if len(self.requests) == 3:
                raise ConnectionError("collector went away")
            return SpanExportResult.FAILURE if len(self.requests) == 2 else SpanExportResult.SUCCESS

    counter = DropCounter()
    recorder = _Raising()
    exporter = CountingSpanExporter(GenAiSpanExporter(recorder, max_request_bytes=7000), counter)
    assert exporter.export(_finished_spans(8, 3000)) is SpanExportResult.FAILURE
    assert [len(request) for request in recorder.requests] == [2, 2, 2, 2]
    assert counter.value == 4  # the second request failed, the third raised; the others went out


def test_non_ascii_content_is_cut_on_a_character_boundary_within_both_budgets() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcreator.telemetry.genai import GenAiSpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(GenAiSpanExporter(memory, max_content_bytes=4096,
                                                                      max_span_bytes=6000)))
    prompt = "Réponds à l’appelant — " * 2000  # 2- and 3-byte characters, ~56 KB
    attributes = {"openinference.span.kind": "LLM", "input.value": prompt, "output.value": "ok"}
    provider.get_tracer("test").start_span("LLM", attributes=attributes).end()
    (span,) = memory.get_finished_spans()
    exported = span.attributes
    assert exported["gen_ai.prompt"] == exported["input.value"]  # the same string, cut the same way
    assert exported["input.value"].startswith("Réponds à l’appelant — ")
    assert "…[truncated" in exported["input.value"]
    assert _string_bytes(span) <= 6000


def test_a_string_cut_by_both_budgets_is_cut_once_and_its_marker_counts_from_the_original() -> None:
    from agentcreator.telemetry.genai import GenAiSpanExporter

    recorder = _RecordingExporter()
    exporter = GenAiSpanExporter(recorder, max_content_bytes=4096, max_span_bytes=3000)
    span = _finished_spans(1, 10_000)[0]
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    value = recorder.requests[0][0].attributes["input.value"]
    kept = value.index("…")
    assert kept < 4096 and value == "x" * kept + f"…[truncated {10_000 - kept} bytes]"
    assert _string_bytes(recorder.requests[0][0]) <= 3000


def test_memory_is_trimmed_at_most_once_per_interval() -> None:
    from agentcreator.telemetry import export

    assert export._MALLOC_TRIM is not None  # glibc here, as in the container's Debian image
    trimmer = export.MemoryTrimmer(interval_s=60)
    assert trimmer.trim(unless_recent=True)
    assert not trimmer.trim(unless_recent=True)
    assert trimmer.trim()  # after an export: always


def _trim_counting_processor(monkeypatch, trim_after_spans: int):
    from agentcreator.telemetry import export

    trims: list[int] = []
    monkeypatch.setattr(export, "_MALLOC_TRIM", trims.append)  # observe the call, glibc's own is above
    processor = DropCountingBatchSpanProcessor(_RecordingExporter(), DropCounter(), schedule_delay_millis=60_000,
                                               trim_after_spans=trim_after_spans)
    processor._trimmer.trim()  # a trim just now: ending spans and busy exports wait a second
    trims.clear()
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return processor, provider, trims


def test_the_export_that_drains_the_queue_returns_freed_memory(monkeypatch) -> None:
    processor, provider, trims = _trim_counting_processor(monkeypatch, trim_after_spans=3)
    for index in range(3):
        provider.get_tracer("test").start_span(f"s{index}").end()
    assert trims == []
    processor.force_flush()
    assert trims == [0]
    processor.shutdown()


def test_a_drained_queue_is_not_trimmed_again_before_enough_spans_went_out(monkeypatch) -> None:
    processor, provider, trims = _trim_counting_processor(monkeypatch, trim_after_spans=5)
    tracer = provider.get_tracer("test")
    for index in range(3):
        tracer.start_span(f"s{index}").end()
    processor._batch_processor._export(BatchExportStrategy.EXPORT_ALL)  # as the exporter's thread does
    assert trims == []  # 3 of 5 spans since the last trim, which was less than a second ago
    for index in range(2):
        tracer.start_span(f"t{index}").end()
    processor._batch_processor._export(BatchExportStrategy.EXPORT_ALL)
    assert trims == [0]
    processor.shutdown()


def test_a_flush_trims_only_as_any_export_does(monkeypatch) -> None:
    processor, provider, trims = _trim_counting_processor(monkeypatch, trim_after_spans=2)
    provider.get_tracer("test").start_span("s").end()
    processor.force_flush()
    assert trims == []  # 1 of 2 spans since the last trim, which was less than a second ago
    provider.get_tracer("test").start_span("t").end()
    processor.force_flush()
    assert trims == [0]
    processor.shutdown()


def test_ending_spans_trim_only_while_an_export_hangs(monkeypatch) -> None:
    from agentcreator.telemetry import export

    trims: list[int] = []
    monkeypatch.setattr(export, "_MALLOC_TRIM", trims.append)
    exporter = HeldExporter()
    processor = DropCountingBatchSpanProcessor(exporter, DropCounter(), max_export_batch_size=1,
                                               schedule_delay_millis=1, stall_s=0.2)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    tracer.start_span("starts-the-export").end()
    for _ in range(100):  # until the exporter's thread is inside the export that hangs
        if processor._export_started is not None:
            break
        time.sleep(0.01)
    tracer.start_span("early").end()
    assert trims == []  # an export that runs, not yet one that hangs: no trim in this thread
    time.sleep(0.3)
    tracer.start_span("late").end()
    assert trims == [0]
    exporter.release.set()
    processor.shutdown()


def test_llm_spans_carry_the_messages_by_default(full_run) -> None:
    llm_spans = [s for s in full_run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert llm_spans
    assert all("llm.input_messages.0.message.content" in s.attributes for s in llm_spans)
    assert all("llm.output_messages.0.message.content" in s.attributes for s in llm_spans)


def test_ascii_strings_at_the_span_budget_are_kept_and_one_byte_over_are_cut() -> None:
    """The span budget keeps room for a marker per long string: strings that fill it exactly
    stay whole, one byte more and they are cut to fit."""
    from agentcreator.telemetry.genai import _MARKER_BYTES, GenAiSpanExporter

    exporter = GenAiSpanExporter(_RecordingExporter(), max_content_bytes=4096, max_span_bytes=3000)
    room = 3000 - 2 * _MARKER_BYTES
    for extra, cut in ((0, False), (1, True)):
        attributes = {"a": "x" * (room // 2), "b": "y" * (room - room // 2 + extra), "short": "ok"}
        attributes["b"] = attributes["b"][: len(attributes["b"]) - len("ok")]
        exporter._fit(attributes)
        values = list(attributes.values())
        assert any("…[truncated" in value for value in values) is cut
        assert sum(len(value.encode()) for value in values) <= 3000


def _resource(env: dict[str, str], monkeypatch) -> dict:
    from agentcreator.telemetry.setup import build_resource

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return dict(build_resource(load_settings()).attributes)


def test_service_name_follows_the_sdks_precedence(monkeypatch) -> None:
    assert _resource({}, monkeypatch)["service.name"] == "agentcreator-meta-agent"
    assert _resource({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"}, monkeypatch)["service.name"] == (
        "from-attrs")
    assert _resource({"OTEL_SERVICE_NAME": "from-name"}, monkeypatch)["service.name"] == "from-name"


def test_environment_fills_in_the_deployment_environment_only_when_the_standard_variable_does_not(
        monkeypatch) -> None:
    attributes = _resource({"ENVIRONMENT": "staging"}, monkeypatch)
    assert attributes["deployment.environment"] == attributes["deployment.environment.name"] == "staging"
    attributes = _resource({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod-eu,team=ml"}, monkeypatch)
    assert attributes["deployment.environment"] == attributes["deployment.environment.name"] == "prod-eu"
    assert attributes["team"] == "ml" and attributes["service.version"]


def test_sdk_disabled_installs_nothing(monkeypatch) -> None:
    import threading

    import dspy
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    from agentcreator.telemetry import otlp_encoding
    from agentcreator.telemetry.setup import dspy_instrumented

    otlp_encoding.uninstall()
    before = {thread.name for thread in threading.enumerate()}
    encoder = trace_exporter.encode_spans
    run = run_pipeline("offline", {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                                   "OTEL_DEBUG": "true"})
    assert run.error is None and run.spans == []  # no span reached even the in-memory exporter
    assert run.result.trace_id == "0" * 32 and not run.result.sampled
    assert {thread.name for thread in threading.enumerate()} - before == set()  # no batch thread
    assert trace_exporter.encode_spans is encoder and not dspy_instrumented()
    assert not hasattr(dspy.LM.__call__, "__wrapped__")


def _session_attributes() -> dict:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcreator.telemetry.baggage import session_baggage_processor

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(session_baggage_processor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("test").start_span("s").end()
    (span,) = memory.get_finished_spans()
    return {key: span.attributes[key] for key in ("session.id", "user.id") if key in span.attributes}


def test_set_session_context_as_a_plain_call_lasts_until_cleared() -> None:
    from agentcreator.telemetry import clear_session_context, set_session_context

    session = set_session_context(agent_id="agent-123", user_id="user-456")  # a plain call, no `with`
    try:
        assert _session_attributes() == {"session.id": "agent-123", "user.id": "user-456"}
        assert _session_attributes() == {"session.id": "agent-123", "user.id": "user-456"}  # still set
    finally:
        clear_session_context(session)
    assert _session_attributes() == {}


def test_clear_session_context_without_a_token_removes_the_keys() -> None:
    from opentelemetry import context

    from agentcreator.telemetry import clear_session_context, set_session_context

    token = context.attach(context.get_current())
    try:
        set_session_context("agent-1")
        clear_session_context()
        assert _session_attributes() == {}
    finally:
        context.detach(token)


def test_set_session_context_as_a_context_manager_restores_the_outer_session() -> None:
    from agentcreator.telemetry import set_session_context

    with set_session_context("outer", "u1"):
        with set_session_context("inner"):
            assert _session_attributes() == {"session.id": "inner"}  # user.id replaced, not merged
        assert _session_attributes() == {"session.id": "outer", "user.id": "u1"}
    assert _session_attributes() == {}
