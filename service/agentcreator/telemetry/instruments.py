"""The app's metric instruments and the only attributes they take.

The GenAI conventions' client metrics (open-telemetry/semantic-conventions-genai, "Development")
and ours. Every attribute is low-cardinality — operation, provider, model, token type, agent and
tool name, error type, outcome, stage — never a session, user or call id; ``ATTRIBUTES`` lists
them and a test holds every recorded point to it. The pipeline records directly (not from spans),
so a sampler dropping traces changes no count and canary traces, which run no pipeline, add none.

Recording is deferred (``defer=True``, what ``metrics.configure_metrics`` asks for unless
exemplars are on): a record on the request path only queues the value, and the queue goes into
the SDK's instruments when a reader collects (from an observable instrument's callback, which
the SDK runs before every collection); past ``PENDING_LIMIT`` records, the request that adds one
feeds in the oldest ``FLUSH_CHUNK``, so under load the queue stays bounded and no request or
collection feeds in more than a few milliseconds' worth. Each value still lands in the export
interval in which it was recorded, and nothing is lost at shutdown (the reader collects once
more). One SDK record inside the running pipeline costs 15-25 µs (it cleans and hashes the
attributes, under a lock); queued ones go in together, warm.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from opentelemetry.metrics import NoOpMeter, Observation

from agentcreator.telemetry.genai import AGENT_NAME, CHAT, provider_name, request_model

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from opentelemetry.metrics import CallbackOptions, Meter
    from opentelemetry.util.types import AttributeValue

# name: (kind, unit, description); the collector's EMF declarations and the dashboard use these names
OPERATION_DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
INVOKE_AGENT_DURATION = "gen_ai.invoke_agent.duration"
EXECUTE_TOOL_DURATION = "gen_ai.execute_tool.duration"
INVOCATIONS = "agentcreator.invocations"
REVIEW_ITERATIONS = "agentcreator.review.iterations"
SANDBOX_RUNS = "agentcreator.sandbox.runs"
COST = "agentcreator.usage.cost"
SPANS_DROPPED = "agentcreator.spans.dropped"
INSTRUMENTS: dict[str, tuple[str, str, str]] = {
    OPERATION_DURATION: ("histogram", "s", "GenAI operation duration (one LLM call, retries included)"),
    TOKEN_USAGE: ("histogram", "{token}", "Input and output tokens used per LLM call"),
    INVOKE_AGENT_DURATION: ("histogram", "s", "Duration of one agent invocation"),
    EXECUTE_TOOL_DURATION: ("histogram", "s", "Duration of one tool execution"),
    INVOCATIONS: ("counter", "{invocation}", "Agent invocations, by outcome"),
    REVIEW_ITERATIONS: ("histogram", "{iteration}", "Iterations a review loop took, until approval or exhaustion"),
    SANDBOX_RUNS: ("counter", "{run}", "Code-interpreter sandbox runs, by outcome"),
    COST: ("counter", "USD", "Cost of the LLM calls in US dollars, from LiteLLM's model cost map"),
    SPANS_DROPPED: ("observable_counter", "{span}",
                    "Spans dropped before they reached the collector, by error.type (queue_full, export_failed)"),
}
# An observable instrument that never reports: its callback feeds the queued records in
FLUSH_HOOK = "agentcreator.metrics.pending"
# Queued records past which a request feeds in FLUSH_CHUNK of them (~7.5 µs each): at most ~8 ms
# for a collection, ~0.5 ms for a request, whatever the load and OTEL_METRIC_EXPORT_INTERVAL.
PENDING_LIMIT = 1_000
FLUSH_CHUNK = 64
ATTRIBUTES = frozenset({
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.token.type",
    "gen_ai.agent.name", "gen_ai.tool.name", "error.type", "agentcreator.outcome", "agentcreator.stage",
})


class Instruments:
    """One of each instrument, made from one meter; ``defer`` queues records until a collection.
    ``span_drops`` reads the spans dropped so far by reason (``telemetry.export.DropCounter``):
    each collection reports them, zero included, so a dashboard shows "none lost" rather than
    no data."""

    def __init__(self, meter: Meter, *, defer: bool = False,
                 span_drops: Callable[[], Mapping[str, int]] | None = None) -> None:
        made = {}
        for name, (kind, unit, description) in INSTRUMENTS.items():
            if kind == "observable_counter":
                continue
            create = meter.create_histogram if kind == "histogram" else meter.create_counter
            made[name] = create(name, unit=unit, description=description)
        if span_drops is not None:
            _, unit, description = INSTRUMENTS[SPANS_DROPPED]
            meter.create_observable_counter(SPANS_DROPPED, callbacks=[_observe_drops(span_drops)], unit=unit,
                                            description=description)
        self.operation_duration = made[OPERATION_DURATION]
        self.token_usage = made[TOKEN_USAGE]
        self.invoke_agent_duration = made[INVOKE_AGENT_DURATION]
        self.execute_tool_duration = made[EXECUTE_TOOL_DURATION]
        self.invocations = made[INVOCATIONS]
        self.review_iterations = made[REVIEW_ITERATIONS]
        self.sandbox_runs = made[SANDBOX_RUNS]
        self.cost = made[COST]
        self._models: dict[str, dict[str, AttributeValue]] = {}
        self._per_call: dict[str, tuple[dict, dict, dict]] = {}  # per model: chat, input, output attributes
        # (record or add, value, attributes); deque's append and popleft are atomic across threads
        self._pending: collections.deque[tuple[Callable, float, Mapping[str, AttributeValue]]] | None = None
        if defer:
            self._pending = collections.deque()
            meter.create_observable_gauge(FLUSH_HOOK, callbacks=[self._flush_for_collection],
                                          description="Never reported: feeds queued records in before a collection")

    def _record(self, record: Callable, value: float, attributes: Mapping[str, AttributeValue]) -> None:
        pending = self._pending
        if pending is None:
            record(value, attributes)
            return
        pending.append((record, value, attributes))
        if len(pending) > PENDING_LIMIT:
            self.flush_pending(FLUSH_CHUNK)

    def flush_pending(self, most: int | None = None) -> int:
        """Feed the queued records (the oldest ``most`` of them) into the SDK's instruments;
        returns how many."""
        pending = self._pending
        count = 0
        while pending and (most is None or count < most):
            try:
                record, value, attributes = pending.popleft()
            except IndexError:  # another thread took the last one
                break
            record(value, attributes)
            count += 1
        return count

    def _flush_for_collection(self, _options: CallbackOptions) -> Iterable[Observation]:
        self.flush_pending()
        return ()

    def _model(self, model: str) -> dict[str, AttributeValue]:
        """Provider and model of a LiteLLM model string, made once per model."""
        attributes = self._models.get(model)
        if attributes is None:
            attributes = self._models[model] = {"gen_ai.provider.name": provider_name(model),
                                                "gen_ai.request.model": request_model(model)}
        return attributes

    def _call(self, model: str) -> tuple[dict, dict, dict]:
        """An LLM call's attributes, and its tokens', made once per model: they are recorded per call."""
        found = self._per_call.get(model)
        if found is None:
            chat = {"gen_ai.operation.name": CHAT, **self._model(model)}
            found = self._per_call[model] = (chat, {**chat, "gen_ai.token.type": "input"},
                                             {**chat, "gen_ai.token.type": "output"})
        return found

    def llm_call(self, model: str, seconds: float, error: BaseException | None = None) -> None:
        """One LLM call (``chat``), its retries included; ``error`` when it failed."""
        attributes = self._call(model)[0]
        if error is not None:
            attributes = {**attributes, "error.type": type(error).__name__}
        self._record(self.operation_duration.record, seconds, attributes)

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        _, input_attributes, output_attributes = self._call(model)
        self._record(self.token_usage.record, input_tokens, input_attributes)
        self._record(self.token_usage.record, output_tokens, output_attributes)

    def invocation(self, model: str, seconds: float, error: BaseException | None = None) -> None:
        """One agent invocation: its duration and its outcome."""
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT_NAME, **self._model(model)}
        if error is not None:
            attributes["error.type"] = type(error).__name__
        self._record(self.invoke_agent_duration.record, seconds, attributes)
        self._record(self.invocations.add, 1, {"agentcreator.outcome": "error" if error is not None else "success",
                                               **self._model(model)})

    def review_loop(self, stage: str, iterations: int, approved: bool) -> None:
        """A produce-and-review loop (``plan`` or ``code``) ended: approved, or out of turns."""
        self._record(self.review_iterations.record, iterations, {
            "agentcreator.stage": stage, "agentcreator.outcome": "approved" if approved else "exhausted"})

    def sandbox_run(self, tool: str, seconds: float, outcome: str) -> None:
        """One code-interpreter run, by outcome (``ok``, ``error``, ``timeout``, ``memory``, ``refused``)."""
        attributes: dict[str, AttributeValue] = {"gen_ai.tool.name": tool}
        if outcome != "ok":
            attributes["error.type"] = outcome
        self._record(self.execute_tool_duration.record, seconds, attributes)
        self._record(self.sandbox_runs.add, 1, {"gen_ai.tool.name": tool, "agentcreator.outcome": outcome})

    def cost_usd(self, model: str, usd: float) -> None:
        if usd > 0:
            self._record(self.cost.add, usd, self._model(model))

    @classmethod
    def noop(cls) -> Instruments:
        instruments = _NOOP.get("instance")
        if instruments is None:
            instruments = _NOOP["instance"] = cls(NoOpMeter("agentcreator"))
        return instruments


def _observe_drops(span_drops: Callable[[], Mapping[str, int]]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(count, {"error.type": reason}) for reason, count in span_drops().items()]
    return observe


_NOOP: dict[str, Instruments] = {}
