"""Telemetry core: one provider, session baggage, gen_ai mapping, drop counting."""

from agentcreator.telemetry.baggage import clear_session_context, set_session_context
from agentcreator.telemetry.setup import (
    configure_tracing,
    content_attributes,
    dropped_span_count,
    get_tracer,
    shutdown,
)

__all__ = [
    "clear_session_context",
    "configure_tracing",
    "content_attributes",
    "dropped_span_count",
    "get_tracer",
    "set_session_context",
    "shutdown",
]
