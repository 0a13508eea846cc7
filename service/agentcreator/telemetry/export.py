"""Span processors and exporters: batch export that bounds its memory and counts its losses,
and local sinks.

The SDK's batch processor drops spans silently when its queue is full (one log line), and
an exporter that fails loses its batch; users need that number, so we count both.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from sys import getsizeof
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

QUEUE_FULL = "queue_full"  # the queue held its capacity, or its memory bound while exports fail
EXPORT_FAILED = "export_failed"  # the exporter gave up on the span's batch
DROP_REASONS = (QUEUE_FULL, EXPORT_FAILED)


class DropCounter:
    """Spans lost on the way out, by reason (``DROP_REASONS``): queue overflow and failed
    exports. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dropped = dict.fromkeys(DROP_REASONS, 0)

    def add(self, count: int, reason: str) -> None:
        with self._lock:
            self._dropped[reason] += count

    @property
    def value(self) -> int:
        return sum(self.by_reason().values())

    def by_reason(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; musl and macOS have none
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


class MemoryTrimmer:
    """Gives the allocator's free memory back to the OS (glibc's malloc_trim, 1-10 ms in a
    loaded server), at most once per ``interval_s`` unless told to.

    Exporting makes about half a megabyte of short-lived strings and buffers a batch on the
    exporter's thread, and glibc kept much of it as free memory in that thread's arena: after
    200 invocations RSS stood ~3 MB higher than what was in use (``benchmarks/memory.py``).
    """

    def __init__(self, interval_s: float = 1.0) -> None:
        self._interval_s = interval_s
        self._last = float("-inf")  # time.monotonic() when the last trim started
        self._lock = threading.Lock()

    def trim(self, *, unless_recent: bool = False) -> bool:
        """Trim now; with ``unless_recent``, only if the last trim is ``interval_s`` old."""
        now = time.monotonic()
        if _MALLOC_TRIM is None or (unless_recent and now < self._last + self._interval_s):
            return False
        if not self._lock.acquire(blocking=False):  # another thread is trimming this moment
            return False
        try:
            self._last = now
            _MALLOC_TRIM(0)
        finally:
            self._lock.release()
        return True


class CountingSpanExporter(SpanExporter):
    """Counts the spans of every export that did not succeed; of an exporter that sends a batch
    in several requests (``export_counting_failures``), only the spans of the requests that failed.
    ``before_export`` sees each batch as it goes in, ``after_export`` as it comes out, with
    whether all of it went out."""

    def __init__(
        self,
        inner: SpanExporter,
        counter: DropCounter,
        after_export: Callable[[Sequence[ReadableSpan], bool], object] | None = None,
        before_export: Callable[[Sequence[ReadableSpan]], object] | None = None,
    ) -> None:
        self._inner = inner
        self._counter = counter
        self._after_export = after_export
        self._before_export = before_export

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        counting = getattr(self._inner, "export_counting_failures", None)
        if self._before_export is not None:
            self._before_export(spans)
        failed = len(spans)  # until the exporter says otherwise, or if it raises
        try:
            if counting is not None:
                result, failed = counting(spans)
            else:
                result = self._inner.export(spans)
                failed = 0 if result is SpanExportResult.SUCCESS else len(spans)
        finally:
            self._counter.add(failed, EXPORT_FAILED)
            if self._after_export is not None:
                self._after_export(spans, failed == 0)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


# A finished span without attributes keeps about this much alive (the span, its context, its
# attribute mapping; measured with tracemalloc over 1,000 spans of the SDK 1.45: 2.7 KB).
_SPAN_FIXED_BYTES = 2700


def _values_bytes(attributes: Mapping[str, object] | None) -> int:
    size = 0
    for key in attributes or ():  # by key: a span's attributes are a mapping whose views are slower
        value = attributes[key]  # type: ignore[index]
        size += getsizeof(value)
        if type(value) is tuple:
            size += sum(map(getsizeof, value))
    return size


def queued_bytes(span: ReadableSpan) -> int:
    """About the memory a finished span keeps alive while it waits for export: its fixed parts
    and its attribute and event values as Python holds them (1, 2 or 4 bytes a character, by the
    widest character in the string). An LLM span's prompt copies are nearly all of it."""
    return _SPAN_FIXED_BYTES + _values_bytes(span.attributes) + sum(
        _values_bytes(event.attributes) for event in span.events)


def _queue_capacity(kwargs: dict[str, Any]) -> int:
    """The capacity the SDK gives the queue: the argument, else OTEL_BSP_MAX_QUEUE_SIZE, else 2048."""
    size = kwargs.get("max_queue_size")
    if isinstance(size, int):
        return size
    try:
        return int(os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE", "") or 2048)
    except ValueError:
        return 2048


class DropCountingBatchSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor that counts the spans it drops, bounds in memory what it holds while
    the collector is not taking spans, and returns freed memory to the OS.

    The SDK bounds its queue in spans only, and drops a full queue's oldest span with one log
    line. An LLM span holds its prompt two or three times: 512 spans are ~15 MB with 10 KB
    prompts, and far more with 200 KB ones, where one non-ASCII character makes every character
    of a string take 2 or 4 bytes. A healthy collector drains the queue in milliseconds; one
    that is down keeps all of it for as long as it is down. So a span is queued only while the
    spans held (waiting, and the batch being exported) are fewer than the queue's capacity and,
    while the last export failed or the running one has taken ``stall_s``, fewer than
    ``max_queue_bytes`` over their mean size (``queued_bytes``, a running mean over the batches
    that went to the exporter), and at least one; a span that does not fit is dropped and
    counted. Nothing ever reaches the SDK's queue full, so it never drops a span unseen. The
    spans are sized a batch at a time on the exporter's thread: sized one by one as they ended,
    they cost the request path 0.015-0.02 ms per LLM call, where code and data run cold. With a
    healthy collector only the capacity counts: a memory bound there dropped spans of a burst
    the exporter would have caught up with.

    Freed memory goes back after the export that empties the queue once ``trim_after_spans``
    have gone out since the last trim, else at most once a second as exports go. A flush is an
    export like another: only benchmarks and tests flush (shutdown does not), and a trim after
    each of their flushes cost the benchmark 0.04-0.06 ms per LLM call that no server pays.
    Only while an export has hung for ``stall_s`` (a collector that does not answer) do ending
    spans trim, at most once a second, in the request's thread: otherwise a trim (1-10 ms in a
    loaded server, holding glibc's arena locks) would land in some request's latency. Trimming
    is not free: the pages it returns are faulted back in as the process allocates again (~3 µs
    each on a Firecracker VM), so it waits for a few invocations' spans.
    """

    def __init__(self, exporter: SpanExporter, counter: DropCounter, *, max_queue_bytes: int | None = None,
                 trim_after_spans: int = 256, stall_s: float = 1.0, **kwargs: Any) -> None:
        self._trimmer = MemoryTrimmer()
        self._trim_after_spans = trim_after_spans
        self._stall_s = stall_s
        self._exported_since_trim = 0  # approximate: request threads and the exporter both touch it
        self._export_started: float | None = None  # while an export runs
        self._failing = False  # the last export did not all go out
        exporter = CountingSpanExporter(exporter, counter, after_export=self._after_export,
                                        before_export=self._before_export)
        super().__init__(exporter, **kwargs)  # type: ignore[arg-type]
        self._counter = counter
        self._capacity = _queue_capacity(kwargs)
        self._max_bytes = max_queue_bytes
        self._mean_bytes: float | None = None  # of the spans that went to the exporter
        self._closed = False
        self._forget_queue()
        if hasattr(os, "register_at_fork"):  # a forked child starts with an empty queue, as the SDK's
            os.register_at_fork(after_in_child=self._forget_queue)

    def _forget_queue(self) -> None:
        self._held = 0  # spans queued or being exported
        self._count_lock = threading.Lock()

    def _stalled(self) -> bool:
        started = self._export_started
        return started is not None and time.monotonic() - started > self._stall_s

    def _limit(self, stalled: bool) -> int:
        """The spans the queue may hold now: its capacity, or, while the collector is not taking
        spans (the last export failed, or the running one is ``stalled``), as many as the memory
        bound allows at their mean size (at least one)."""
        mean = self._mean_bytes
        if self._max_bytes is None or mean is None or not (self._failing or stalled):
            return self._capacity
        return max(1, min(self._capacity, int(self._max_bytes // mean)))

    def _admit(self, stalled: bool) -> bool:
        """Whether one more span fits in the queue; if so, it is counted in."""
        limit = self._limit(stalled)
        with self._count_lock:
            if self._closed or self._held >= limit:
                return False
            self._held += 1
            return True

    def _before_export(self, spans: Sequence[ReadableSpan]) -> None:
        self._export_started = time.monotonic()
        if self._max_bytes is not None and spans:
            batch_mean = sum(map(queued_bytes, spans)) / len(spans)
            mean = self._mean_bytes
            self._mean_bytes = batch_mean if mean is None else (mean + batch_mean) / 2

    def _trim(self, *, unless_recent: bool) -> None:
        if self._trimmer.trim(unless_recent=unless_recent):
            self._exported_since_trim = 0

    def _after_export(self, spans: Sequence[ReadableSpan], went_out: bool) -> None:
        with self._count_lock:
            self._held = max(0, self._held - len(spans))
            drained = self._held == 0
        self._failing = not went_out
        self._export_started = None
        self._exported_since_trim += len(spans)
        self._trim(unless_recent=not (drained and self._exported_since_trim >= self._trim_after_spans))

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return  # the SDK queues sampled spans only
        stalled = self._stalled()  # read once: it bounds the queue and decides the trim
        if not self._admit(stalled):
            self._counter.add(1, QUEUE_FULL)
            return
        super().on_end(span)
        if stalled:
            self._trim(unless_recent=True)

    def shutdown(self) -> None:
        self._closed = True
        return super().shutdown()


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
