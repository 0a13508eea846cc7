"""Per-invocation token and cost accounting, written onto the LLM spans as DSPy reports it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dspy.utils.usage_tracker import UsageTracker
from opentelemetry import trace

from agentcreator.telemetry.genai import COST_ATTRIBUTE, token_count_attributes
from agentcreator.telemetry.metrics import app_metrics

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agentcreator.telemetry.pricing import Price


def _tokens(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


class SpanUsageTracker(UsageTracker):
    """DSPy's usage tracker, also writing each call's usage onto the current (LLM) span, as
    openinference's ``llm.token_count.*`` (the export maps them to ``gen_ai.usage.*``), and its
    cost in USD as ``gen_ai.usage.cost`` when ``price`` is known.

    One per invocation; it keeps the invocation's totals for the root span.
    """

    def __init__(self, price: Price | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.price = price
        self.input_tokens = 0
        self.output_tokens = 0
        self.calls = 0
        self._cost = 0.0

    def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
        with self._lock:
            super().add_usage(lm, usage_entry)
            input_tokens = _tokens(usage_entry, "prompt_tokens", "input_tokens")
            output_tokens = _tokens(usage_entry, "completion_tokens", "output_tokens")
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.calls += 1
            cost = self.price.cost(input_tokens, output_tokens) if self.price is not None else None
            if cost is not None:
                self._cost += cost
        app_metrics().tokens(lm, input_tokens, output_tokens)
        span = trace.get_current_span()
        if span.is_recording():
            attributes: dict[str, int | float] = dict(token_count_attributes(input_tokens, output_tokens))
            if cost is not None:
                attributes[COST_ATTRIBUTE] = cost
            span.set_attributes(attributes)

    @property
    def cost_usd(self) -> float | None:
        """The invocation's cost so far; None when the model has no price."""
        return self._cost if self.price is not None else None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


