"""The Bedrock path through the real client: DSPy → LiteLLM's Converse client (SigV4 by
botocore) → a local Converse server, with fake credentials and the AWS SDK's endpoint variable.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentcreator import telemetry
from agentcreator.config import load_settings
from agentcreator.pipeline import ROOT_SPAN, InvocationError, InvocationRequest, lm_hooks, run_invocation
from agentcreator.pipeline.agent_creator import CODE_INTERPRETER_SPAN
from agentcreator.pipeline.stages import DRAFT_PLAN, STAGES
from agentcreator.telemetry.pricing import price_of
from tests.support.bedrock_server import (
    FAKE_ACCESS_KEY_ID,
    parse_authorization,
    sigv4_signature_valid,
)

MODEL = "bedrock/amazon.nova-pro-v1:0"
MODEL_ID = "amazon.nova-pro-v1:0"
REGION = "eu-west-1"


SOP = """# Refund request
1. Verify the caller's identity with their order number.
2. Look up the order and check it is within 30 days.
3. Issue the refund to the original payment method.
4. Send a confirmation email and record the call.
"""
VOICE = "Warm, calm and concise. Patient with upset callers; never uses jargon."


@pytest.fixture
def bedrock_region() -> str:
    """Not the default region: proves the request is signed for the configured one."""
    return REGION


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing(load_settings({}), extra_exporters=[exporter])
    yield exporter
    telemetry.shutdown()
    lm_hooks.uninstall()


def _settings(**overrides):
    values = {"lm_retries": 2, "lm_timeout_s": 10.0, "lm_retry_max_delay_s": 0.2, **overrides}
    return load_settings(**values)


def _run(agent_id="agent-123", user_id=None, **overrides):
    request = InvocationRequest(agent_id=agent_id, sop=SOP, voice_personality=VOICE, user_id=user_id, lm=MODEL)
    return run_invocation(request, _settings(**overrides))


def _llm_spans(exporter):
    return [s for s in exporter.get_finished_spans() if s.attributes.get("openinference.span.kind") == "LLM"]


def _by_name(exporter, name):
    return [s for s in exporter.get_finished_spans() if s.name == name]


def _stage_of(span, by_id):
    """The nearest enclosing stage span of ``span``."""
    parent = span.parent
    while parent is not None:
        ancestor = by_id[parent.span_id]
        if ancestor.name in STAGES:
            return ancestor
        parent = ancestor.parent
    return None


def _tokens(span):
    a = span.attributes
    return a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.total_tokens"]


def test_requests_are_sigv4_signed_for_the_region_and_reach_converse(bedrock, spans):
    _run()
    assert bedrock.exchanges
    for exchange in bedrock.exchanges:
        assert exchange.method == "POST"
        assert exchange.model_id == MODEL_ID
        assert exchange.path == "/model/amazon.nova-pro-v1%3A0/converse"  # the SDKs' encoding of ':'
        auth = parse_authorization(exchange)
        assert auth is not None, exchange.headers.get("authorization")
        assert auth["key"] == FAKE_ACCESS_KEY_ID
        assert (auth["region"], auth["service"]) == (REGION, "bedrock")
        assert {"host", "x-amz-date"} <= set(auth["signed"].split(";"))
        assert sigv4_signature_valid(exchange, bedrock.endpoint)
        body = exchange.json
        assert body["messages"][0]["role"] == "user" and body["system"][0]["text"]


def test_pipeline_on_bedrock_yields_the_trace_contract(bedrock, spans):
    result = _run(user_id="user-7")
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    (root,) = _by_name(spans, ROOT_SPAN)
    assert root.parent is None and root.status.status_code is StatusCode.OK
    assert {s.context.trace_id for s in finished} == {root.context.trace_id}
    for span in finished:
        assert span.attributes["session.id"] == "agent-123" and span.attributes["user.id"] == "user-7"
        assert span.resource.attributes["service.name"] == "agentcreator-meta-agent"
    names = Counter(s.name for s in finished)
    for stage in STAGES:
        assert names[stage] >= 1, stage
        assert by_id[_by_name(spans, stage)[0].parent.span_id].name == ROOT_SPAN
    assert names[CODE_INTERPRETER_SPAN] >= 1

    llm = _llm_spans(spans)
    assert len(llm) == len(bedrock.successes) == len(bedrock.exchanges) == result.usage["llm_calls"]
    price = price_of(MODEL_ID)
    assert price is not None
    assert result.usage["cost_usd"] == root.attributes["agentcreator.usage.cost_usd"] == pytest.approx(
        sum(s.attributes["gen_ai.usage.cost"] for s in llm), abs=1e-8)
    stages_with_llm = Counter(_stage_of(s, by_id).name for s in llm)
    assert set(stages_with_llm) == set(STAGES)
    for span in llm:
        a = span.attributes
        assert a["gen_ai.system"] == a["gen_ai.provider.name"] == "aws.bedrock"
        assert a["llm.provider"] == "bedrock"
        assert a["gen_ai.request.model"] == a["llm.model_name"] == MODEL_ID
        assert a["gen_ai.operation.name"] == "chat" and span.name == f"chat {MODEL_ID}"
        assert a["gen_ai.usage.cost"] == pytest.approx(price.cost(a["gen_ai.usage.input_tokens"],
                                                                  a["gen_ai.usage.output_tokens"]))
        assert a["llm.token_count.prompt"] == a["gen_ai.usage.prompt_tokens"] == a["gen_ai.usage.input_tokens"]
        assert a["llm.token_count.completion"] == a["gen_ai.usage.completion_tokens"]
        assert a["gen_ai.prompt"] and a["gen_ai.completion"]
        assert bedrock.endpoint in a["llm.invocation_parameters"]
        assert "agentcreator.lm.retries" not in a and "agentcreator.lm.cache_hit" not in a
        assert span.status.status_code is StatusCode.OK
    assert Counter(_tokens(s) for s in llm) == Counter(bedrock.reported_usage)
    sums = [sum(column) for column in zip(*bedrock.reported_usage, strict=True)]
    assert [root.attributes[f"agentcreator.usage.{k}_tokens"] for k in ("input", "output", "total")] == sums
    assert [result.usage[f"{k}_tokens"] for k in ("input", "output", "total")] == sums


def test_a_repeated_invocation_calls_bedrock_again(bedrock, spans):
    """DSPy's cache is off on this path: the same prompts reach the server, with their usage."""
    first = _run().usage
    calls = len(bedrock.exchanges)
    second = _run().usage
    assert len(bedrock.exchanges) == 2 * calls
    assert first == second and second["input_tokens"] > 0


def test_throttling_is_retried_with_backoff_and_each_retry_is_on_the_llm_span(bedrock, spans):
    bedrock.fail("throttling", times=2, field="plan")
    started = time.perf_counter()
    result = _run(lm_retries=3, lm_retry_max_delay_s=0.2)
    elapsed = time.perf_counter() - started
    plan_requests = [e for e in bedrock.exchanges if "plan" in e.output_fields]
    assert [e.status for e in plan_requests] == [429, 429, 200]
    assert [e.error_code for e in plan_requests[:2]] == ["ThrottlingException"] * 2
    gaps = [b.received_at - a.received_at for a, b in zip(plan_requests, plan_requests[1:], strict=False)]
    (span,) = [s for s in _llm_spans(spans) if s.attributes.get("agentcreator.lm.retries")]
    assert span.attributes["agentcreator.lm.retries"] == 2
    assert span.status.status_code is StatusCode.OK
    events = [e for e in span.events if e.name == lm_hooks.RETRY_EVENT]
    assert [e.attributes["agentcreator.lm.attempt"] for e in events] == [1, 2]
    for event, gap in zip(events, gaps, strict=True):
        assert event.attributes["error.type"] == "LMRateLimitError"
        assert event.attributes["http.response.status_code"] == 429
        assert event.attributes["aws.error.code"] == "ThrottlingException"
        delay = event.attributes["agentcreator.lm.retry.delay_s"]
        assert 0 < delay <= 0.2 and gap >= delay * 0.9
    assert _tokens(span) == bedrock.reported_usage[[e for e in bedrock.successes].index(plan_requests[2])]
    assert result.usage["llm_calls"] == len(bedrock.successes)
    assert elapsed < 5


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("model_timeout", 408, "ModelTimeoutException"), ("internal", 500, "InternalServerException"),
     ("unavailable", 503, "ServiceUnavailableException")],
)
def test_transient_bedrock_errors_are_retried(bedrock, spans, kind, status, code):
    bedrock.fail(kind, times=1, field="plan")
    _run(lm_retries=1)
    (span,) = [s for s in _llm_spans(spans) if s.attributes.get("agentcreator.lm.retries")]
    (event,) = span.events
    assert event.attributes["http.response.status_code"] == status  # the wire's, not LiteLLM's relabel
    assert event.attributes["aws.error.code"] == code
    failed = next(e for e in bedrock.exchanges if e.status == status)
    assert event.attributes["aws.request_id"] == failed.request_id
    assert span.status.status_code is StatusCode.OK


def _assert_failed_in_draft_plan(spans, error):
    assert error.stage == DRAFT_PLAN and error.trace_id
    (root,) = _by_name(spans, ROOT_SPAN)  # the trace is exported even though the run failed
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["agentcreator.outcome"] == "error"
    assert root.attributes["agentcreator.failed_stage"] == DRAFT_PLAN
    assert format(root.context.trace_id, "032x") == error.trace_id
    (stage,) = _by_name(spans, DRAFT_PLAN)
    assert stage.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in stage.events)
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    (llm,) = [s for s in _llm_spans(spans) if _stage_of(s, by_id) is stage]
    assert llm.status.status_code is StatusCode.ERROR
    assert llm.attributes["gen_ai.system"] == "aws.bedrock"
    return llm


def test_persistent_throttling_fails_the_stage_and_root_after_bounded_retries(bedrock, spans):
    bedrock.fail("throttling", times=None, field="plan")
    started = time.perf_counter()
    with pytest.raises(InvocationError) as caught:
        _run(lm_retries=2, lm_retry_max_delay_s=0.2)
    elapsed = time.perf_counter() - started
    assert [e.status for e in bedrock.exchanges if "plan" in e.output_fields] == [429, 429, 429]
    llm = _assert_failed_in_draft_plan(spans, caught.value)
    assert llm.attributes["agentcreator.lm.retries"] == 2
    assert "LMRateLimitError" in str(caught.value)
    assert elapsed < 5


def test_validation_errors_are_not_retried(bedrock, spans):
    bedrock.fail("validation", times=None, field="plan")
    with pytest.raises(InvocationError) as caught:
        _run(lm_retries=3)
    assert [e.status for e in bedrock.exchanges if "plan" in e.output_fields] == [400]
    llm = _assert_failed_in_draft_plan(spans, caught.value)
    assert "agentcreator.lm.retries" not in llm.attributes
    assert "LMInvalidRequestError" in str(caught.value)


def test_a_hang_past_the_per_call_timeout_fails_the_stage_and_root(bedrock, spans):
    bedrock.hang(60, times=None, field="plan")
    started = time.perf_counter()
    with pytest.raises(InvocationError) as caught:
        _run(lm_retries=1, lm_timeout_s=0.5, lm_retry_max_delay_s=0.1)
    elapsed = time.perf_counter() - started
    assert len([e for e in bedrock.exchanges if "plan" in e.output_fields]) == 2  # first try + one retry
    llm = _assert_failed_in_draft_plan(spans, caught.value)
    (event,) = [e for e in llm.events if e.name == lm_hooks.RETRY_EVENT]
    assert event.attributes["error.type"] == "LMTimeoutError"
    assert "LMTimeoutError" in str(caught.value)
    assert 1.0 <= elapsed < 5


def test_retry_after_from_the_server_is_honoured_up_to_the_cap(bedrock, spans):
    bedrock.fail("throttling", times=1, field="plan", retry_after=30)
    started = time.perf_counter()
    _run(lm_retries=1, lm_retry_max_delay_s=0.3)
    (span,) = [s for s in _llm_spans(spans) if s.attributes.get("agentcreator.lm.retries")]
    (event,) = span.events
    assert event.attributes["agentcreator.lm.retry.delay_s"] == 0.3
    assert time.perf_counter() - started < 5
