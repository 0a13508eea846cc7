"""Session context: ``session.id``/``user.id`` ride in W3C baggage and land on every span.

Only these two keys are copied onto spans; anything else a caller puts in baggage stays out
of our telemetry.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import baggage, context
from opentelemetry.processor.baggage import BaggageSpanProcessor

if TYPE_CHECKING:
    from collections.abc import Iterator

SESSION_KEYS = frozenset({"session.id", "user.id"})


def session_baggage_processor() -> BaggageSpanProcessor:
    """The maintained baggage processor, restricted to the session keys."""
    return BaggageSpanProcessor(SESSION_KEYS.__contains__)


@contextmanager
def set_session_context(agent_id: str, user_id: str | None = None) -> Iterator[None]:
    """Put ``session.id`` (the agent id) and ``user.id`` in baggage for the enclosed work.

    Keys already in baggage under those names are replaced, never merged: a caller's
    baggage cannot choose our session.
    """
    ctx = context.get_current()
    for key in SESSION_KEYS:
        ctx = baggage.remove_baggage(key, ctx)
    ctx = baggage.set_baggage("session.id", agent_id, ctx)
    if user_id:
        ctx = baggage.set_baggage("user.id", user_id, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)
