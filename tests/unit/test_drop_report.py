"""The server's log line for dropped spans: once per interval, only when some were dropped."""

from __future__ import annotations

import asyncio
import logging

from agentcreator import telemetry
from agentcreator.config import load_settings
from agentcreator.runtime.drop_report import report_dropped_spans
from tests.support.otlp_sink import OtlpSink

LOGGER = "agentcreator.runtime.drop_report"


async def _lose_spans_while_reporting(endpoint: str) -> None:
    reporter = asyncio.create_task(report_dropped_spans(endpoint, interval_s=0.2))
    await asyncio.sleep(0.5)  # two looks with nothing dropped
    for index in range(3):
        telemetry.get_tracer().start_span(f"lost-{index}").end()
    await asyncio.sleep(0.7)  # the export fails within milliseconds; three more looks
    reporter.cancel()


def test_spans_refused_by_the_endpoint_are_logged_once_with_their_reason(caplog, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")  # the SDK reads it from the environment itself
    with OtlpSink() as sink:
        sink.respond_with(400)  # permanent: the batch fails at once
        settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})
        telemetry.configure_tracing(settings)
        try:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                asyncio.run(_lose_spans_while_reporting(settings.shown_traces_endpoint))
            total = telemetry.dropped_span_count()
        finally:
            telemetry.shutdown(timeout_s=5)
    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert lines == ["3 spans dropped in the last 0 s (0 with the queue full, 3 in failed exports); "
                     f"{total} since start: they never reached {sink.endpoint}/v1/traces"]
