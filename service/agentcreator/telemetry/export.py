"""Span processors and exporters: batch export that counts its losses, and local sinks.

The SDK's batch processor drops spans silently when its queue is full (one log line), and
an exporter that fails loses its batch; users need that number, so we count both.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentcreator.telemetry.seams import warn_once

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

_log = logging.getLogger(__name__)


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
    in several requests (``export_counting_failures``), only the spans of the requests that failed."""

    def __init__(
        self,
        inner: SpanExporter,
        counter: DropCounter,
        after_export: Callable[[int], object] | None = None,
        before_export: Callable[[int], object] | None = None,
    ) -> None:
        self._inner = inner
        self._counter = counter
        self._after_export = after_export
        self._before_export = before_export

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        counting = getattr(self._inner, "export_counting_failures", None)
        if self._before_export is not None:
            self._before_export(len(spans))
        try:
            if counting is not None:
                result, failed = counting(spans)
            else:
                result = self._inner.export(spans)
                failed = 0 if result is SpanExportResult.SUCCESS else len(spans)
        except Exception:
            self._counter.add(len(spans))
            raise
        finally:
            if self._after_export is not None:
                self._after_export(len(spans))
        self._counter.add(failed)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


# The SDK's batch state that tells a full queue (opentelemetry-sdk 1.45), private: an upgrade may
# rename it. Checked once per processor; without it, spans are counted on their way in and out.
_BATCH_STATE = ("_batch_processor", "_queue", "_shutdown", "_max_queue_size")
_SEAM = "opentelemetry-sdk's BatchSpanProcessor._batch_processor._queue/_shutdown/_max_queue_size"


def _sdk_batch(processor: BatchSpanProcessor) -> Any | None:
    """The SDK's batch processor, when it still keeps a deque, a shutdown flag and a capacity."""
    holder, queue, shutdown, capacity = _BATCH_STATE
    batch = getattr(processor, holder, None)
    if (isinstance(getattr(batch, queue, None), collections.deque) and isinstance(getattr(batch, shutdown, None), bool)
            and isinstance(getattr(batch, capacity, None), int)):
        return batch
    return None


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
    """A BatchSpanProcessor that counts the spans it drops because its queue is full, and
    returns freed memory: after the export that empties its queue once ``trim_after_spans``
    have gone out since the last trim, else at most once a second as exports go. A flush is an
    export like another: only benchmarks and tests flush (shutdown does not), and a trim after
    each of their flushes cost the benchmark 0.04-0.06 ms per LLM call that no server pays.
    Only while an export has hung for ``stall_s`` (a collector that does not answer) do ending
    spans trim, at most once a second, in the request's thread: otherwise a trim (1-10 ms in a
    loaded server, holding glibc's arena locks) would land in some request's latency.

    Trimming is not free: the pages it returns are faulted back in as the process allocates
    again (~3 µs each on a Firecracker VM), so it waits for a few invocations' worth of spans.

    Reads the SDK's internal queue (``_BATCH_STATE``), exact and free. When an upgrade moves it,
    one warning, and the queue's length is kept by counting spans in (``on_end``) and out
    (each export): the same count, except that a span ending while a batch is between the
    queue and the exporter may count as dropped when the queue is within a batch of full.
    """

    def __init__(self, exporter: SpanExporter, counter: DropCounter, *, trim_after_spans: int = 256,
                 stall_s: float = 1.0, **kwargs: Any) -> None:
        self._trimmer = MemoryTrimmer()
        self._trim_after_spans = trim_after_spans
        self._stall_s = stall_s
        self._exported_since_trim = 0  # approximate: request threads and the exporter both touch it
        self._export_started: float | None = None  # while an export runs
        exporter = CountingSpanExporter(exporter, counter, after_export=self._after_export,
                                        before_export=self._before_export)
        super().__init__(exporter, **kwargs)  # type: ignore[arg-type]
        self._counter = counter
        self._sdk = _sdk_batch(self)
        # the fallback's own account of the queue
        self._capacity = _queue_capacity(kwargs)
        self._queued = 0
        self._closed = False
        self._count_lock = threading.Lock()
        if self._sdk is None:
            warn_once(_log, _SEAM, "%s moved: dropped spans are counted by this processor itself", _SEAM)
            if hasattr(os, "register_at_fork"):  # a forked child starts with an empty queue, as the SDK's
                os.register_at_fork(after_in_child=self._forget_queue)

    def _forget_queue(self) -> None:
        self._queued = 0
        self._count_lock = threading.Lock()

    def _before_export(self, count: int) -> None:
        self._export_started = time.monotonic()
        if self._sdk is None:
            with self._count_lock:
                self._queued = max(0, self._queued - count)

    def _trim(self, *, unless_recent: bool) -> None:
        if self._trimmer.trim(unless_recent=unless_recent):
            self._exported_since_trim = 0

    def _after_export(self, exported: int) -> None:
        self._export_started = None
        self._exported_since_trim += exported
        drained = not self._sdk._queue if self._sdk is not None else self._queued == 0
        self._trim(unless_recent=not (drained and self._exported_since_trim >= self._trim_after_spans))

    def on_end(self, span: ReadableSpan) -> None:
        batch = self._sdk
        if batch is not None:
            if batch._shutdown or len(batch._queue) >= batch._max_queue_size:
                self._counter.add(1)
        else:
            with self._count_lock:
                if self._closed or self._queued >= self._capacity:
                    self._counter.add(1)  # a full queue drops its oldest span: its length stays
                else:
                    self._queued += 1
        super().on_end(span)
        started = self._export_started
        if started is not None and time.monotonic() - started > self._stall_s:
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
