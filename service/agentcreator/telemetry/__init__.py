"""Telemetry core: one provider, session baggage, gen_ai mapping, drop counting, app metrics."""

from agentcreator.telemetry.baggage import clear_session_context, set_session_context
from agentcreator.telemetry.metrics import app_metrics
from agentcreator.telemetry.setup import (
    configure_tracing,
    content_attributes,
    dropped_span_count,
    dropped_spans_by_reason,
    get_tracer,
    shutdown,
)

__all__ = [
    "app_metrics",
    "clear_session_context",
    "configure_tracing",
    "content_attributes",
    "dropped_span_count",
    "dropped_spans_by_reason",
    "get_tracer",
    "set_session_context",
    "shutdown",
]
