"""Span processors and exporters: batch export that counts its losses, and local sinks.

The SDK's batch processor drops spans silently when its queue is full (one log line), and
an exporter that fails loses its batch; users need that number, so we count both.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, TextIO

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.sdk.trace import ReadableSpan


class DropCounter:
    """Spans lost on the way out: queue overflow plus failed exports. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dropped = 0

    def add(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    @property
    def value(self) -> int:
        return self._dropped


class CountingSpanExporter(SpanExporter):
    """Counts the spans of every export that did not succeed."""

    def __init__(self, inner: SpanExporter, counter: DropCounter) -> None:
        self._inner = inner
        self._counter = counter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            self._counter.add(len(spans))
            raise
        if result is not SpanExportResult.SUCCESS:
            self._counter.add(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; musl and macOS have none
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


class MemoryReturningSpanExporter(SpanExporter):
    """After each export, gives the allocator's free memory back to the OS (glibc's malloc_trim,
    ~0.1 ms).

    An export makes about half a megabyte of short-lived strings and buffers on the exporter's
    thread, and glibc kept much of it as free memory in that thread's arena: after 200
    invocations RSS stood ~3 MB higher than what was in use (``benchmarks/memory.py``).
    """

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            return self._inner.export(spans)
        finally:
            if _MALLOC_TRIM is not None:
                _MALLOC_TRIM(0)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class DropCountingBatchSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor that counts the spans it drops because its queue is full.

    Reads the SDK's internal queue length (opentelemetry-sdk 1.45); a unit test fills the
    queue to keep this honest across upgrades.
    """

    def __init__(self, exporter: SpanExporter, counter: DropCounter, **kwargs: object) -> None:
        super().__init__(CountingSpanExporter(exporter, counter), **kwargs)  # type: ignore[arg-type]
        self._counter = counter

    def on_end(self, span: ReadableSpan) -> None:
        batch = self._batch_processor
        if batch._shutdown or len(batch._queue) >= batch._max_queue_size:
            self._counter.add(1)
        super().on_end(span)


class JsonLinesSpanExporter(SpanExporter):
    """Writes each finished span as one line of ``ReadableSpan.to_json()`` (for ``--trace-file``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock:
            self._stream.write(lines)
            self._stream.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._stream.flush()
