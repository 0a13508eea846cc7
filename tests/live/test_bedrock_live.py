"""One short stage against real Amazon Bedrock: opt-in, never in CI.

    AGENTCREATOR_LIVE_BEDROCK=1 AWS_REGION=us-east-1 uv run pytest -m bedrock_live

Needs credentials the AWS SDK can find (env, profile, SSO, role) with ``bedrock:InvokeModel``
on the model (``AGENTCREATOR_LIVE_MODEL``, default ``bedrock/amazon.nova-pro-v1:0``).
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.bedrock_live


def _credentials_available() -> bool:
    try:
        import boto3

        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


@pytest.fixture
def live_model():
    if os.environ.get("AGENTCREATOR_LIVE_BEDROCK") != "1":
        pytest.skip("set AGENTCREATOR_LIVE_BEDROCK=1 to call real Bedrock")
    if not _credentials_available():
        pytest.skip("no AWS credentials found")
    return os.environ.get("AGENTCREATOR_LIVE_MODEL", "bedrock/amazon.nova-pro-v1:0")


def test_one_stage_against_bedrock_carries_the_bedrock_attributes(live_model):
    import dspy
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from agentcreator.pipeline import lm_hooks
    from agentcreator.pipeline import signatures as sig
    from agentcreator.pipeline.lm import build_lm
    from agentcreator.pipeline.stages import PARSE_VOICE_PERSONALITY, stage_span
    from agentcreator.pipeline.usage import SpanUsageTracker
    from agentcreator.telemetry.setup import ensure_dspy_instrumented

    settings = load_settings(lm_retries=2, lm_timeout_s=60.0)
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing(settings, extra_exporters=[exporter])
    ensure_dspy_instrumented()
    try:
        tracker = SpanUsageTracker()
        with dspy.context(lm=build_lm(live_model, settings), usage_tracker=tracker, disable_history=True), \
                stage_span(PARSE_VOICE_PERSONALITY, 1):
            result = dspy.Predict(sig.ParseVoicePersonality)(voice_personality="Warm, calm and concise.")
    finally:
        telemetry.shutdown()
        lm_hooks.uninstall()
    assert result.voice_profile
    spans = exporter.get_finished_spans()
    (stage,) = [s for s in spans if s.name == PARSE_VOICE_PERSONALITY]
    assert stage.status.status_code is StatusCode.OK
    llm = [s for s in spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert llm
    for span in llm:
        a = span.attributes
        assert a["gen_ai.system"] == a["gen_ai.provider.name"] == "aws.bedrock"
        assert a["gen_ai.request.model"] == live_model.removeprefix("bedrock/")
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["gen_ai.usage.total_tokens"] == a["gen_ai.usage.input_tokens"] + a["gen_ai.usage.output_tokens"]
    assert tracker.total_tokens == sum(s.attributes["gen_ai.usage.total_tokens"] for s in llm)
