"""A log line for the spans a server process dropped, at most once a minute.

The app's logs reach CloudWatch Logs through the task's log driver, not through the collector;
so this line says which task lost spans, and why, even while the collector, and with it the
``agentcreator.spans.dropped`` metric, is down. Nothing is logged while nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from agentcreator import telemetry
from agentcreator.telemetry.export import EXPORT_FAILED, QUEUE_FULL

_log = logging.getLogger(__name__)
INTERVAL_S = 60.0


def describe(dropped: dict[str, int]) -> str:
    """``{"queue_full": 3, "export_failed": 64}`` as ``3 with the queue full, 64 in failed exports``."""
    return f"{dropped.get(QUEUE_FULL, 0)} with the queue full, {dropped.get(EXPORT_FAILED, 0)} in failed exports"


async def report_dropped_spans(endpoint: str, interval_s: float = INTERVAL_S) -> None:
    """Every ``interval_s``, log the spans dropped since the last look, if any, naming the
    ``endpoint`` they were for (shown safely: ``Settings.shown_traces_endpoint``). Runs until cancelled."""
    seen = telemetry.dropped_spans_by_reason()
    while True:
        await asyncio.sleep(interval_s)
        now = telemetry.dropped_spans_by_reason()
        new = {reason: count - seen.get(reason, 0) for reason, count in now.items()}
        if any(new.values()):
            _log.warning("%d spans dropped in the last %.0f s (%s); %d since start: they never reached %s",
                         sum(new.values()), interval_s, describe(new), sum(now.values()),
                         endpoint)
        seen = now
