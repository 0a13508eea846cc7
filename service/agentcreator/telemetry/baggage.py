"""Session context: ``session.id``/``user.id`` ride in W3C baggage and land on every span.

Only these two keys are copied onto spans; anything else a caller puts in baggage stays out
of our telemetry. ``set_session_context`` works both as a plain call and as a context manager:

    set_session_context(agent_id="agent-123", user_id="user-456")   # until cleared
    ...
    clear_session_context()

    with set_session_context(agent_id="agent-123"):                   # for the block
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import baggage, context
from opentelemetry.processor.baggage import BaggageSpanProcessor

if TYPE_CHECKING:
    from opentelemetry.context import Context

SESSION_KEYS = frozenset({"session.id", "user.id"})


def session_baggage_processor() -> BaggageSpanProcessor:
    """The maintained baggage processor, restricted to the session keys."""
    return BaggageSpanProcessor(SESSION_KEYS.__contains__)


def _without_session(ctx: Context) -> Context:
    for key in SESSION_KEYS:
        ctx = baggage.remove_baggage(key, ctx)
    return ctx


class SessionContext:
    """The session set by ``set_session_context``: already current; ``clear()`` (or leaving its
    ``with`` block) restores the context that was current before it."""

    __slots__ = ("_token",)

    def __init__(self, token: object) -> None:
        self._token: object | None = token

    def clear(self) -> None:
        if self._token is not None:
            token, self._token = self._token, None
            context.detach(token)  # type: ignore[arg-type]

    def __enter__(self) -> SessionContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.clear()


def set_session_context(agent_id: str, user_id: str | None = None) -> SessionContext:
    """Put ``session.id`` (the agent id) and ``user.id`` in baggage of the current context now.

    Keys already in baggage under those names are replaced, never merged: a caller's baggage
    cannot choose our session. Lasts until ``clear_session_context()`` or the returned object's
    ``clear()``; used as a context manager, until the block ends.
    """
    ctx = baggage.set_baggage("session.id", agent_id, _without_session(context.get_current()))
    if user_id:
        ctx = baggage.set_baggage("user.id", user_id, ctx)
    return SessionContext(context.attach(ctx))


def clear_session_context(session: SessionContext | None = None) -> None:
    """End ``session`` (restoring the context before it); without one, remove the session keys
    from the current context."""
    if session is not None:
        session.clear()
        return
    context.attach(_without_session(context.get_current()))
