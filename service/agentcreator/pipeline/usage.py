"""Per-invocation token accounting, written onto the LLM spans as DSPy reports it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dspy.utils.usage_tracker import UsageTracker
from opentelemetry import trace

from agentcreator.telemetry.genai import token_count_attributes

if TYPE_CHECKING:
    from collections.abc import Mapping


def _tokens(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


class SpanUsageTracker(UsageTracker):
    """DSPy's usage tracker, also writing each call's usage onto the current (LLM) span, as
    openinference's ``llm.token_count.*`` (the export maps them to ``gen_ai.usage.*``).

    One per invocation; it keeps the invocation's totals for the root span.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.input_tokens = 0
        self.output_tokens = 0
        self.calls = 0

    def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
        with self._lock:
            super().add_usage(lm, usage_entry)
            input_tokens = _tokens(usage_entry, "prompt_tokens", "input_tokens")
            output_tokens = _tokens(usage_entry, "completion_tokens", "output_tokens")
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.calls += 1
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(dict(token_count_attributes(input_tokens, output_tokens)))

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


