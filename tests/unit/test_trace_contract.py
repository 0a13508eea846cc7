"""The trace contract (docs/trace.md), asserted on the offline pipeline with the loops at their limits."""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.trace import StatusCode

from tests.unit.conftest import run_pipeline

STAGE_COUNTS = {
    "Parse Voice Personality": 1, "Parse SOP": 1, "Draft Plan": 4, "Review Plan": 4,
    "Generate Code": 3, "Review Code": 3, "Generate Prompt": 1,
}
GEN_AI_KEYS = (
    "gen_ai.system", "gen_ai.request.model", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
    "gen_ai.usage.total_tokens", "gen_ai.prompt", "gen_ai.completion", "gen_ai.provider.name",
    "gen_ai.operation.name", "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "gen_ai.usage.cost",
)
LLM_SPAN = "chat agentcreator-simulated"  # semconv: "{gen_ai.operation.name} {gen_ai.request.model}"


def _by_id(spans):
    return {span.context.span_id: span for span in spans}


def _ancestors(span, by_id):
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        yield span


def test_one_trace_with_one_root(full_run) -> None:
    assert full_run.error is None
    assert len({span.context.trace_id for span in full_run.spans}) == 1
    roots = [span for span in full_run.spans if span.parent is None]
    assert [root.name for root in roots] == ["AgentCreator Invocation"]


def test_stage_spans_are_children_of_the_root_with_exact_counts(full_run) -> None:
    root = next(span for span in full_run.spans if span.parent is None)
    stages = [span for span in full_run.spans if span.name in STAGE_COUNTS]
    assert Counter(span.name for span in stages) == STAGE_COUNTS
    assert all(span.parent.span_id == root.context.span_id for span in stages)


def test_iteration_attributes_number_the_loops(full_run) -> None:
    for name, count in STAGE_COUNTS.items():
        iterations = sorted(s.attributes.get("agentcreator.iteration") for s in full_run.spans if s.name == name)
        if name in ("Draft Plan", "Review Plan", "Generate Code", "Review Code"):
            assert iterations == list(range(1, count + 1)), name
        else:
            assert iterations == [None], name


def test_every_generate_code_has_code_interpreter_tool_children(full_run) -> None:
    by_id = _by_id(full_run.spans)
    tools = [span for span in full_run.spans if span.name == "Code Interpreter Tool"]
    for generate in (span for span in full_run.spans if span.name == "Generate Code"):
        under = [t for t in tools if generate in list(_ancestors(t, by_id))]
        assert len(under) >= 1
    assert all(t.status.status_code is StatusCode.OK for t in tools)


def test_every_stage_has_an_llm_span_below_it(full_run) -> None:
    by_id = _by_id(full_run.spans)
    llm_spans = [s for s in full_run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    for stage in (span for span in full_run.spans if span.name in STAGE_COUNTS):
        assert any(stage in list(_ancestors(llm, by_id)) for llm in llm_spans), stage.name


def test_session_and_user_on_every_span_including_worker_threads(full_run) -> None:
    for span in full_run.spans:
        assert span.attributes.get("session.id") == "agent-123", span.name
        assert span.attributes.get("user.id") == "user-456", span.name
    # the voice stage runs in a worker thread: its subtree must still carry the session
    assert any(s.name == "Parse Voice Personality" for s in full_run.spans)


def test_resource_attributes(full_run) -> None:
    for span in full_run.spans:
        resource = span.resource.attributes
        assert resource["service.name"] == "agentcreator-meta-agent"
        assert resource["service.version"] == "1.0.0"
        assert resource["deployment.environment"] == "production"
        assert resource["deployment.environment.name"] == "production"


def test_every_llm_span_has_every_gen_ai_attribute_and_tokens(full_run) -> None:
    llm_spans = [s for s in full_run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert len(llm_spans) >= 23
    for span in llm_spans:
        missing = [key for key in GEN_AI_KEYS if key not in span.attributes]
        assert not missing, missing
        assert span.attributes["gen_ai.usage.prompt_tokens"] > 0
        assert span.attributes["gen_ai.usage.completion_tokens"] > 0
        assert span.attributes["gen_ai.usage.total_tokens"] == (
            span.attributes["gen_ai.usage.prompt_tokens"] + span.attributes["gen_ai.usage.completion_tokens"]
        )
        assert span.attributes["gen_ai.system"] == span.attributes["gen_ai.provider.name"] == (
            "agentcreator.offline (simulated)")
        assert "simulated" in span.attributes["llm.model_name"]
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.name == f"chat {span.attributes['gen_ai.request.model']}" == LLM_SPAN
        assert span.attributes["gen_ai.response.model"] == "agentcreator-simulated"
        assert span.attributes["gen_ai.usage.input_tokens"] == span.attributes["gen_ai.usage.prompt_tokens"]
        assert span.attributes["gen_ai.usage.output_tokens"] == span.attributes["gen_ai.usage.completion_tokens"]


def test_every_llm_span_costs_its_tokens_at_the_priced_models_rate(full_run) -> None:
    """The offline LM's tokens are priced as the Bedrock model it stands in for, from LiteLLM's map."""
    from agentcreator.telemetry.pricing import price_of

    price = price_of("amazon.nova-pro-v1:0")
    assert price is not None and price.input_per_token > 0
    for span in (s for s in full_run.spans if s.attributes.get("openinference.span.kind") == "LLM"):
        attributes = span.attributes
        expected = price.cost(attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"])
        assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected, rel=1e-12)
        assert span.attributes["gen_ai.usage.cost"] > 0


def test_root_is_an_agent_invocation_with_the_total_cost(full_run) -> None:
    root = next(span for span in full_run.spans if span.parent is None)
    assert root.name == "AgentCreator Invocation"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "AgentCreator"
    assert root.attributes["gen_ai.provider.name"] == "agentcreator.offline (simulated)"
    llm_costs = [s.attributes["gen_ai.usage.cost"] for s in full_run.spans
                 if s.attributes.get("openinference.span.kind") == "LLM"]
    assert root.attributes["agentcreator.usage.cost_usd"] == pytest.approx(sum(llm_costs), abs=1e-8)
    assert root.attributes["agentcreator.usage.priced_as"] == "amazon.nova-pro-v1:0"
    assert full_run.result.usage["cost_usd"] == root.attributes["agentcreator.usage.cost_usd"]
    assert "gen_ai.usage.cost" not in root.attributes  # a backend summing the trace would count it twice


def test_root_carries_the_token_totals_and_outcome(full_run) -> None:
    root = next(span for span in full_run.spans if span.parent is None)
    llm_spans = [s for s in full_run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert root.attributes["agentcreator.usage.input_tokens"] == sum(
        s.attributes["gen_ai.usage.input_tokens"] for s in llm_spans)
    assert root.attributes["agentcreator.usage.output_tokens"] == sum(
        s.attributes["gen_ai.usage.output_tokens"] for s in llm_spans)
    assert root.attributes["agentcreator.usage.llm_calls"] == len(llm_spans)
    assert root.attributes["agentcreator.outcome"] == "success"
    assert root.status.status_code is StatusCode.OK
    assert full_run.result.usage["total_tokens"] == root.attributes["agentcreator.usage.total_tokens"]
    assert full_run.result.iterations["Draft Plan"] == 4 and full_run.result.iterations["Generate Code"] == 3
    assert full_run.result.approved == {"plan": False, "code": False}


def test_reviews_that_approve_end_the_loops_early() -> None:
    run = run_pipeline("offline:plan_rejections=1,code_rejections=0")
    counts = Counter(span.name for span in run.spans)
    assert counts["Draft Plan"] == 2 and counts["Review Plan"] == 2
    assert counts["Generate Code"] == 1 and counts["Review Code"] == 1
    assert run.result.approved == {"plan": True, "code": True}


def test_a_failing_stage_marks_stage_and_root_error_and_the_trace_is_exported() -> None:
    run = run_pipeline("offline:plan_rejections=1,fail_stage=review_plan")
    assert run.error is not None and run.error.stage == "Review Plan"
    root = next(span for span in run.spans if span.parent is None)
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["agentcreator.outcome"] == "error"
    assert root.attributes["agentcreator.failed_stage"] == "Review Plan"
    assert run.error.trace_id == format(root.context.trace_id, "032x")
    failed = [s for s in run.spans if s.name == "Review Plan"]
    assert len(failed) == 1 and failed[0].status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in failed[0].events)
    assert not any(s.name == "Generate Code" for s in run.spans)
    # the parallel voice stage still completed and was exported
    assert any(s.name == "Parse Voice Personality" for s in run.spans)


def test_result_traceparent_names_the_root_span(full_run) -> None:
    root = next(span for span in full_run.spans if span.parent is None)
    assert full_run.result.traceparent == f"00-{root.context.trace_id:032x}-{root.context.span_id:016x}-01"


def test_only_llm_spans_of_openinference_are_kept(full_run) -> None:
    """CHAIN spans that repeat the stage's inputs, and TOOL spans that repeat ours, are not
    recorded (telemetry/dspy_spans.py)."""
    names = {span.name for span in full_run.spans}
    assert names == {"AgentCreator Invocation", *STAGE_COUNTS, "Code Interpreter Tool", LLM_SPAN}
    kinds = Counter(span.attributes.get("openinference.span.kind") for span in full_run.spans)
    assert set(kinds) == {"AGENT", None, "LLM", "TOOL"}


def test_the_tool_span_is_a_child_of_its_stage_and_carries_the_code_and_the_result(full_run) -> None:
    by_id = _by_id(full_run.spans)
    tools = [span for span in full_run.spans if span.name == "Code Interpreter Tool"]
    assert len(tools) == STAGE_COUNTS["Generate Code"]
    for tool in tools:
        assert by_id[tool.parent.span_id].name == "Generate Code"
        assert tool.attributes["openinference.span.kind"] == "TOOL"
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == tool.attributes["tool.name"] == "code_interpreter"
        assert tool.attributes["gen_ai.tool.type"] == "function"
        assert tool.attributes["gen_ai.tool.call.id"].startswith("call_")
        assert "def " in tool.attributes["input.value"]
        assert tool.attributes["input.mime_type"] == tool.attributes["output.mime_type"] == "text/plain"
        assert tool.attributes["output.value"].startswith("ok: the code ran to completion")
    assert len({tool.attributes["gen_ai.tool.call.id"] for tool in tools}) == len(tools)


def test_instrumentation_wraps_only_the_lm_and_shutdown_undoes_it() -> None:
    import dspy
    from openinference.instrumentation.dspy import CopyableFunctionWrapper

    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from agentcreator.telemetry.setup import ensure_dspy_instrumented

    def wrapped(cls: type, name: str) -> bool:
        return isinstance(cls.__dict__[name], CopyableFunctionWrapper)

    telemetry.configure_tracing(load_settings({}))
    ensure_dspy_instrumented()
    assert wrapped(dspy.LM, "__call__") and not wrapped(dspy.Tool, "__call__")
    assert not wrapped(dspy.Predict, "forward") and not wrapped(dspy.Module, "__call__")
    assert not wrapped(dspy.ChatAdapter.__mro__[1], "__call__")
    telemetry.shutdown()
    assert not wrapped(dspy.LM, "__call__")


def test_a_stage_has_one_spelling_in_spans_attributes_and_options(full_run) -> None:
    from agentcreator.pipeline.stages import STAGES, stage_slug

    for span in full_run.spans:
        if span.name in STAGES:
            assert span.attributes["agentcreator.stage"] == span.name.lower().replace(" ", "_")
    run = run_pipeline(f"offline:fail_stage={stage_slug('Parse Voice Personality')}")
    assert run.error is not None and run.error.stage == "Parse Voice Personality"
