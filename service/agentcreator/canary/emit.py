"""The canary: a two-span trace through the app's own telemetry path, with no LLM call.

It is made by the configured provider, so it passes the same processors (session baggage),
exporter wrapper, batch queue and OTLP exporter as an invocation, then the collector and
every backend. It is marked so it can be told apart and kept: the span attribute
``agentcreator.canary = true``, its own ``session.id`` (``agentcreator-canary-<env>``), the
Langfuse tag ``canary`` and its own root name. It carries no ``gen_ai.*`` attribute, so no
agent, token or cost view counts it. Each emission is logged on one line
(``canary emitted trace_id=... emitted_at=...``): the checker reads the backends for exactly
the traces the task says it sent.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import baggage, context
from opentelemetry.context import Context
from opentelemetry.trace import format_trace_id

from agentcreator import telemetry
from agentcreator.canary.readback import LOG_MARKER

if TYPE_CHECKING:
    from agentcreator.config import Settings

CANARY_ATTRIBUTE = "agentcreator.canary"
ROOT_NAME = "AgentCreator Canary"
PROBE_NAME = "Canary Probe"
_FIRST_DELAY_S = 30.0  # after start-up: the collector is HEALTHY and the warm-up has begun
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Canary:
    trace_id: str  # 32 hex digits, as every backend but X-Ray shows it
    session_id: str
    emitted_at: float  # epoch seconds when the root span ended and went to the exporter

    def log_line(self) -> str:
        return (f"{LOG_MARKER} trace_id={self.trace_id} session_id={self.session_id} "
                f"emitted_at={self.emitted_at:.3f}")


def session_id(environment: str) -> str:
    """One session per environment holds every canary, away from the agents' sessions."""
    return f"agentcreator-canary-{environment}"


def emit_canary(settings: Settings) -> Canary:
    """Record one canary trace (a root and one child) and log it; the batch processor sends it."""
    tracer = telemetry.get_tracer()
    session = session_id(settings.environment)
    # A fresh context, attached: no caller's span above the root, and our session in the baggage
    # every span of the trace starts under, for the baggage processor to copy.
    token = context.attach(baggage.set_baggage("session.id", session, context=Context()))
    marks = {CANARY_ATTRIBUTE: True}
    try:
        with tracer.start_as_current_span(
            ROOT_NAME, attributes={**marks, "langfuse.trace.tags": ("canary",), "langfuse.trace.name": ROOT_NAME},
        ) as root, tracer.start_as_current_span(PROBE_NAME, attributes=marks):
            trace_id = format_trace_id(root.get_span_context().trace_id)
    finally:
        context.detach(token)
    canary = Canary(trace_id=trace_id, session_id=session, emitted_at=time.time())
    _log.info(canary.log_line())
    return canary


class CanarySchedule:
    """A daemon thread that emits a canary every ``interval_s`` until ``stop()``."""

    def __init__(self, settings: Settings, interval_s: float, *, first_delay_s: float | None = None) -> None:
        self._settings = settings
        self._interval_s = interval_s
        self._first_delay_s = min(_FIRST_DELAY_S if first_delay_s is None else first_delay_s, interval_s)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="canary", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        delay = self._first_delay_s
        while not self._stopped.wait(delay):
            try:
                emit_canary(self._settings)
            except Exception:  # a canary must never take the service down; a missing one alarms
                _log.warning("canary emission failed", exc_info=True)
            delay = self._interval_s
