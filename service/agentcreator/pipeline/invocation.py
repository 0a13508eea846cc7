"""One invocation: the root span, session baggage, usage totals and outcome around the module.

The CLI and the HTTP runtime both call ``run_invocation``; it never swallows a failure, and
the root span always ends (ERROR on failure) so the trace is exported either way.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Status, StatusCode, format_trace_id

from agentcreator.pipeline.stages import StageError
from agentcreator.telemetry import app_metrics, get_tracer, set_session_context
from agentcreator.telemetry.genai import agent_attributes, provider_name, request_model
from agentcreator.telemetry.setup import ensure_dspy_instrumented

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from agentcreator.config import Settings

ROOT_SPAN = "AgentCreator Invocation"


@dataclass(frozen=True)
class InvocationRequest:
    agent_id: str
    sop: str
    voice_personality: str
    user_id: str | None = None
    lm: str | None = None


@dataclass
class InvocationResult:
    agent: dict[str, str]
    trace_id: str
    span_id: str
    usage: dict[str, Any]  # tokens, LLM calls, and cost_usd (None when the model has no price)
    iterations: dict[str, int]
    approved: dict[str, bool]
    duration_ms: float
    model: str
    simulated: bool = field(default=False)
    sampled: bool = field(default=True)

    @property
    def traceparent(self) -> str:
        """The W3C traceparent of the root span, honouring the caller's sampling decision."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent.get("agent_id"),
            "agent": {k: v for k, v in self.agent.items() if k != "agent_id"},
            "trace_id": self.trace_id,
            "usage": self.usage,
            "iterations": self.iterations,
            "approved": self.approved,
            "duration_ms": self.duration_ms,
            "model": self.model,
            "simulated": self.simulated,
        }


class InvocationError(RuntimeError):
    """The pipeline failed; carries what a caller may show: stage, trace id, error id."""

    def __init__(self, message: str, *, stage: str | None, trace_id: str, error_id: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.trace_id = trace_id
        self.error_id = error_id


_module: Any = None


def _agent_creator() -> Any:
    """The DSPy module is stateless between calls: build it once."""
    global _module
    if _module is None:
        from agentcreator.pipeline.agent_creator import AgentCreator

        _module = AgentCreator()
    return _module


def run_invocation(
    request: InvocationRequest, settings: Settings, *, parent: Context | None = None
) -> InvocationResult:
    """Run the pipeline under one root span; raise InvocationError (after the span ends) on failure."""
    import dspy

    from agentcreator.pipeline.formatting import CachingChatAdapter
    from agentcreator.pipeline.lm import build_lm, is_offline, pricing_model
    from agentcreator.pipeline.usage import SpanUsageTracker
    from agentcreator.telemetry.pricing import price_of

    ensure_dspy_instrumented()
    model = request.lm or settings.lm
    lm = build_lm(model, settings)
    priced_as = pricing_model(model)
    tracker = SpanUsageTracker(price_of(priced_as) if priced_as else None)
    started = time.perf_counter()
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with set_session_context(request.agent_id, request.user_id), get_tracer().start_as_current_span(
            ROOT_SPAN,
            attributes={
                "openinference.span.kind": "AGENT",
                "agentcreator.lm.model": request_model(lm.model),
                "agentcreator.lm.provider": provider_name(lm.model),
                "agentcreator.lm.simulated": is_offline(model),
                **dict(agent_attributes(lm.model)),
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as root:
            span_context = root.get_span_context()
            trace_id = format_trace_id(span_context.trace_id)
            try:
                # DSPy records every Predict call (module, inputs, outputs) in a process-wide trace
                # list of up to 10,000 entries, for optimizers: in a server, ~80 KB of every
                # caller's SOP, plans and code per invocation, kept across requests. Each
                # invocation gets its own list instead, gone when it ends.
                with dspy.context(lm=lm, adapter=CachingChatAdapter(), usage_tracker=tracker, disable_history=True,
                                  trace=[]):
                    prediction = _agent_creator().create_agent(request.sop, request.voice_personality)
            except Exception as error:
                error_id = uuid.uuid4().hex[:12]
                stage = error.stage if isinstance(error, StageError) else None
                cause = error.cause if isinstance(error, StageError) else error
                root.record_exception(cause)
                root.set_status(Status(StatusCode.ERROR, f"{stage or 'pipeline'} failed: {type(cause).__name__}"))
                root.set_attributes({"agentcreator.outcome": "error", "agentcreator.error_id": error_id,
                                     **({"agentcreator.failed_stage": stage} if stage else {})})
                _set_usage(root, tracker)
                _record(lm.model, started, tracker, cause)
                first_line = next(iter(str(cause).strip().splitlines()), "")  # LM errors append advice lines
                raise InvocationError(
                    f"{stage or 'pipeline'} failed: {type(cause).__name__}: {first_line}",
                    stage=stage, trace_id=trace_id, error_id=error_id,
                ) from error
            log = prediction.stage_log
            root.set_attributes({
                "agentcreator.outcome": "success",
                "agentcreator.plan_approved": log.plan_approved,
                "agentcreator.code_approved": log.code_approved,
                **{f"agentcreator.iterations.{name.lower().replace(' ', '_')}": n
                   for name, n in log.iterations.items()},
            })
            _set_usage(root, tracker)
            _record(lm.model, started, tracker, None, log)
            root.set_status(Status(StatusCode.OK))
    finally:
        if token is not None:
            otel_context.detach(token)
    return InvocationResult(
        agent={"agent_id": request.agent_id, "plan": prediction.plan, "code": prediction.code,
               "system_prompt": prediction.system_prompt},
        trace_id=trace_id,
        span_id=format(span_context.span_id, "016x"),
        usage={"input_tokens": tracker.input_tokens, "output_tokens": tracker.output_tokens,
               "total_tokens": tracker.total_tokens, "llm_calls": tracker.calls,
               "cost_usd": _rounded(tracker.cost_usd)},
        iterations=dict(log.iterations),
        approved={"plan": log.plan_approved, "code": log.code_approved},
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        model=model,
        simulated=is_offline(model),
        sampled=span_context.trace_flags.sampled,
    )


def _record(model: str, started: float, tracker: Any, error: BaseException | None, log: Any = None) -> None:
    """The invocation's metrics: duration and outcome, cost, and how long each review loop ran."""
    metrics = app_metrics()
    metrics.invocation(model, time.perf_counter() - started, error)
    if tracker.cost_usd is not None:
        metrics.cost_usd(model, tracker.cost_usd)
    if log is not None:
        for stage, name, approved in (("plan", "Review Plan", log.plan_approved),
                                      ("code", "Review Code", log.code_approved)):
            if name in log.iterations:
                metrics.review_loop(stage, log.iterations[name], approved)


def _rounded(cost: float | None) -> float | None:
    """A USD figure for people and JSON: to a millionth of a cent (float sums carry noise below)."""
    return None if cost is None else round(cost, 8)


def _set_usage(span: Any, tracker: Any) -> None:
    """The invocation's totals on the root. Under agentcreator.* names, not gen_ai.usage.*: a
    backend summing a trace's observations (Langfuse) would count them twice."""
    attributes = {
        "agentcreator.usage.input_tokens": tracker.input_tokens,
        "agentcreator.usage.output_tokens": tracker.output_tokens,
        "agentcreator.usage.total_tokens": tracker.total_tokens,
        "agentcreator.usage.llm_calls": tracker.calls,
    }
    if tracker.cost_usd is not None:
        attributes["agentcreator.usage.cost_usd"] = _rounded(tracker.cost_usd)
        attributes["agentcreator.usage.priced_as"] = tracker.price.entry
    span.set_attributes(attributes)
