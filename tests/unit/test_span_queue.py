"""The span queue: bounded in spans and in bytes, every span it cannot keep counted as dropped."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from agentcreator.config import ConfigError, load_settings
from agentcreator.telemetry.export import DropCounter, DropCountingBatchSpanProcessor, queued_bytes
from tests.support.held_exporter import HeldExporter


def _tracer(processor: DropCountingBatchSpanProcessor, **provider_args):
    provider = TracerProvider(**provider_args)
    provider.add_span_processor(processor)
    return provider.get_tracer("test")


def test_a_full_queue_drops_and_counts_new_spans_and_failed_exports(caplog) -> None:
    counter = DropCounter()
    exporter = HeldExporter()
    processor = DropCountingBatchSpanProcessor(exporter, counter, max_queue_size=4, max_export_batch_size=2,
                                               schedule_delay_millis=1)
    tracer = _tracer(processor)
    with caplog.at_level(logging.WARNING):
        for index in range(20):
            tracer.start_span(f"s{index}").end()
    assert counter.value == 16  # 4 held (queued, or in the export that hangs), the 16 after them dropped
    assert counter.by_reason() == {"queue_full": 16, "export_failed": 0}
    assert not [r for r in caplog.records if "Queue full" in r.getMessage()]  # the SDK never saw its queue full
    exporter.release.set()
    processor.shutdown()
    assert exporter.exported == ["s0", "s1", "s2", "s3"]  # the oldest kept, in order
    assert counter.value == 20  # and their exports failed: none of the 20 went out
    tracer.start_span("after shutdown").end()
    assert counter.by_reason() == {"queue_full": 17, "export_failed": 4}


def _span_with(tracer, name: str, text: str) -> None:
    tracer.start_span(name, attributes={"input.value": text}).end()


def _until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_while_the_collector_hangs_the_queue_holds_what_its_bytes_allow() -> None:
    counter = DropCounter()
    exporter = HeldExporter()
    processor = DropCountingBatchSpanProcessor(exporter, counter, max_queue_bytes=100_000, max_queue_size=512,
                                               max_export_batch_size=1, schedule_delay_millis=1, stall_s=0.05)
    tracer = _tracer(processor)
    _span_with(tracer, "a", "x" * 30_000)  # ~32.8 KB: three fit in 100 KB
    _until(lambda: processor._export_started is not None)  # sized as it went to the exporter, which hangs
    _span_with(tracer, "b", "x" * 30_000)
    _span_with(tracer, "c", "x" * 30_000)
    time.sleep(0.1)  # the export has now hung for longer than stall_s
    for name in "defg":
        _span_with(tracer, name, "x" * 30_000)
    assert counter.value == 4  # a (being exported), b and c held; the rest dropped
    exporter.release.set()
    _until(lambda: exporter.exported == ["a", "b", "c"])
    _span_with(tracer, "after a failed export", "x" * 30_000)
    _span_with(tracer, "and another", "x" * 30_000)
    assert counter.value == 7  # a, b and c failed, and count too; the next spans fit again
    processor.shutdown()


def test_a_span_larger_than_the_whole_budget_still_goes_out_alone() -> None:
    counter = DropCounter()
    exporter = HeldExporter(SpanExportResult.SUCCESS)
    processor = DropCountingBatchSpanProcessor(exporter, counter, max_queue_bytes=100_000, max_queue_size=512,
                                               max_export_batch_size=1, schedule_delay_millis=1, stall_s=0.0)
    tracer = _tracer(processor)
    _span_with(tracer, "huge", "x" * 150_000)
    _until(lambda: processor._export_started is not None)
    _span_with(tracer, "while it hangs", "x")
    assert counter.value == 1
    exporter.release.set()
    _until(lambda: processor._held == 0)
    _span_with(tracer, "after", "x")
    processor.force_flush()
    assert exporter.exported == ["huge", "after"]
    processor.shutdown()


def test_a_collector_that_keeps_up_leaves_the_queue_bounded_by_its_capacity_only() -> None:
    """A burst the exporter catches up with is not cut by the memory bound."""
    counter = DropCounter()
    exporter = HeldExporter(SpanExportResult.SUCCESS)
    exporter.release.set()
    processor = DropCountingBatchSpanProcessor(exporter, counter, max_queue_bytes=100_000, max_queue_size=16,
                                               max_export_batch_size=16, schedule_delay_millis=60_000)
    tracer = _tracer(processor)
    _span_with(tracer, "sized", "x" * 30_000)
    processor.force_flush()
    for index in range(10):  # ~330 KB: over the memory bound, within the capacity
        _span_with(tracer, f"s{index}", "x" * 30_000)
    assert counter.value == 0
    processor.force_flush()
    assert len(exporter.exported) == 11
    processor.shutdown()


def test_unsampled_spans_take_no_room() -> None:
    counter = DropCounter()
    processor = DropCountingBatchSpanProcessor(HeldExporter(), counter, max_queue_size=2,
                                               max_export_batch_size=1, max_queue_bytes=10_000,
                                               schedule_delay_millis=60_000)
    tracer = _tracer(processor, sampler=ALWAYS_OFF)
    for index in range(10):
        _span_with(tracer, f"s{index}", "x" * 5_000)
    assert (processor._held, counter.value) == (0, 0)
    processor.shutdown()


def test_a_span_weighs_its_strings_as_python_holds_them() -> None:
    """One character past U+00FF makes every character of its string take two bytes."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    _span_with(tracer, "ascii", "x" * 10_001)
    _span_with(tracer, "dash", "—" + "x" * 10_000)
    tracer.start_span("event").add_event("exception", {"exception.stacktrace": "x" * 10_000})
    ascii_span, dash_span = memory.get_finished_spans()
    assert 10_000 <= queued_bytes(dash_span) - queued_bytes(ascii_span) <= 10_100
    assert 12_000 < queued_bytes(ascii_span) < 14_000  # the string and the span's fixed ~2.7 KB


def test_the_span_queue_memory_is_shared_by_the_tasks_workers() -> None:
    assert load_settings({}).span_queue_bytes == 4 << 20
    assert load_settings({"AGENTCREATOR_SPAN_QUEUE_MIB": "16", "AGENTCREATOR_WORKERS": "4"}).span_queue_bytes == 4 << 20
    assert load_settings({"AGENTCREATOR_SPAN_QUEUE_MIB": "1.5"}).span_queue_bytes == 3 << 19
    with pytest.raises(ConfigError, match="AGENTCREATOR_SPAN_QUEUE_MIB='0' must be at least 1"):
        load_settings({"AGENTCREATOR_SPAN_QUEUE_MIB": "0"})
