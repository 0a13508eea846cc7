"""A span exporter that holds every export until released: a collector that does not answer."""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class HeldExporter(SpanExporter):
    """Holds each export until ``release`` is set (at most 5 s), then returns ``result`` (a
    failure unless told otherwise); ``exported`` lists the names of the spans it was handed."""

    def __init__(self, result: SpanExportResult = SpanExportResult.FAILURE) -> None:
        self.release = threading.Event()
        self.result = result
        self.exported: list[str] = []

    def export(self, spans):
        self.release.wait(5)
        self.exported.extend(span.name for span in spans)
        return self.result

    def shutdown(self) -> None:
        self.release.set()
