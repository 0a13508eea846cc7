"""Stage-by-stage progress on a terminal, driven by the spans themselves (no extra hooks)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, TextIO

from opentelemetry.sdk.trace import SpanProcessor

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span


class ProgressSpanProcessor(SpanProcessor):
    """Prints one line when a stage span ends: name, iteration, duration, status."""

    def __init__(self, stream: TextIO, stage_names: Iterable[str]) -> None:
        self._stream = stream
        self._stages = frozenset(stage_names)
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing on start: the parallel stages would interleave their lines."""

    def on_end(self, span: ReadableSpan) -> None:
        if span.name not in self._stages:
            return
        attributes = span.attributes or {}
        iteration = attributes.get("agentcreator.iteration")
        label = f"{span.name} #{iteration}" if iteration else span.name
        failed = span.status.status_code.name == "ERROR"
        duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        with self._lock:
            self._stream.write(f"  {'✗' if failed else '✓'} {label:<28} {duration_ms:>9,.0f} ms\n")
            self._stream.flush()
