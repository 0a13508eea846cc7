"""Bedrock configuration the AWS way, and the LM hooks: endpoint and region variables reach
LiteLLM as arguments, bad values fail in one line, cache hits are marked, hooks undo cleanly.
"""

from __future__ import annotations

import dspy
import pytest
from dspy.clients import execution
from dspy.clients.cache import Cache
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentcreator import telemetry
from agentcreator.config import VARIABLES, ConfigError, load_settings
from agentcreator.pipeline import lm_hooks
from agentcreator.pipeline.lm import build_lm
from agentcreator.pipeline.usage import SpanUsageTracker
from tests.support.bedrock_server import BedrockConverseServer, fake_aws_environment

MODEL = "bedrock/amazon.nova-pro-v1:0"


@pytest.fixture(autouse=True)
def _hooks_undone():
    yield
    lm_hooks.uninstall()


def test_the_aws_sdk_variables_are_documented():
    for name in ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AGENTCREATOR_LM_RETRY_MAX_DELAY_S"):
        assert name in VARIABLES


@pytest.mark.parametrize(
    ("env", "region", "endpoint"),
    [
        ({}, None, None),
        ({"AWS_DEFAULT_REGION": "eu-central-1"}, "eu-central-1", None),
        ({"AWS_REGION": "us-gov-west-1", "AWS_DEFAULT_REGION": "eu-central-1"}, "us-gov-west-1", None),
        ({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "https://vpce-1.bedrock-runtime.eu-west-1.vpce.amazonaws.com/"},
         None, "https://vpce-1.bedrock-runtime.eu-west-1.vpce.amazonaws.com"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, None, "http://127.0.0.1:4566"),
        ({"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://b:2"}, None, "http://b:2"),
        ({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://b:2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
         None, None),
    ],
)
def test_region_and_endpoint_follow_the_aws_sdk_precedence(env, region, endpoint):
    settings = load_settings(env)
    assert (settings.aws_region, settings.bedrock_runtime_endpoint) == (region, endpoint)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "bedrock.local:8080"}, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        ({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "ftp://host"}, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        ({"AWS_ENDPOINT_URL": "https://host/?x=1"}, "AWS_ENDPOINT_URL"),
        ({"AWS_REGION": "Ireland"}, "AWS_REGION"),
        ({"AWS_DEFAULT_REGION": "us_east_1"}, "AWS_DEFAULT_REGION"),
        ({"AGENTCREATOR_LM_RETRY_MAX_DELAY_S": "soon"}, "AGENTCREATOR_LM_RETRY_MAX_DELAY_S"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_variable(env, named):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(named + "=") and "\n" not in message


def test_bedrock_models_get_region_and_endpoint_as_litellm_arguments():
    settings = load_settings({"AWS_REGION": "eu-west-3", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9"},
                             lm_retries=4, lm_timeout_s=7.0)
    lm = build_lm(MODEL, settings)
    assert lm.kwargs["aws_region_name"] == "eu-west-3"
    assert lm.kwargs["aws_bedrock_runtime_endpoint"] == "http://127.0.0.1:9"
    assert (lm.num_retries, lm.kwargs["timeout"], lm.cache) == (4, 7.0, False)
    other = build_lm("openai/gpt-4o-mini", settings)
    assert "aws_bedrock_runtime_endpoint" not in other.kwargs and "aws_region_name" not in other.kwargs
    assert build_lm(MODEL, load_settings({"AWS_REGION": "eu-west-3"})) is not lm  # the endpoint is in the key


def test_the_aws_variable_wins_over_litellms_own(monkeypatch):
    """LiteLLM's AWS_BEDROCK_RUNTIME_ENDPOINT may linger in an environment; ours is explicit and wins."""
    for name, value in fake_aws_environment().items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    with BedrockConverseServer() as right, BedrockConverseServer() as wrong:
        monkeypatch.setenv("AWS_BEDROCK_RUNTIME_ENDPOINT", wrong.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", right.endpoint)
        lm = build_lm(MODEL, load_settings(lm_retries=0, lm_timeout_s=10.0))
        assert lm(messages=[{"role": "user", "content": "Say hello."}])
    assert len(right.exchanges) == 1 and not wrong.exchanges


def test_cache_hits_are_marked_on_the_llm_span_and_carry_no_usage(monkeypatch):
    for name, value in fake_aws_environment().items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    monkeypatch.setattr(dspy, "cache", Cache(enable_disk_cache=False, enable_memory_cache=True, disk_cache_dir=None))
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing(load_settings({}), extra_exporters=[exporter])
    telemetry.setup.ensure_dspy_instrumented()
    lm_hooks.install()
    with BedrockConverseServer() as bedrock:
        lm = dspy.LM(MODEL, engine="litellm", cache=True, num_retries=0, aws_bedrock_runtime_endpoint=bedrock.endpoint)
        tracker = SpanUsageTracker()
        with dspy.context(usage_tracker=tracker, disable_history=True):
            first = lm(messages=[{"role": "user", "content": "Say hello."}])
            second = lm(messages=[{"role": "user", "content": "Say hello."}])
    assert first == second and len(bedrock.exchanges) == 1
    miss, hit = [s for s in exporter.get_finished_spans() if s.attributes.get("openinference.span.kind") == "LLM"]
    assert miss.attributes[lm_hooks.CACHE_HIT_ATTRIBUTE] is False
    assert (miss.attributes["gen_ai.usage.input_tokens"], miss.attributes["gen_ai.usage.output_tokens"],
            miss.attributes["gen_ai.usage.total_tokens"]) == bedrock.reported_usage[0]
    assert hit.attributes[lm_hooks.CACHE_HIT_ATTRIBUTE] is True
    assert hit.attributes["gen_ai.usage.total_tokens"] == 0
    assert tracker.calls == 1


def test_hooks_install_once_and_uninstall_restores_dspy():
    original_delay, original_finalize = execution._delay, execution.finalize
    lm_hooks.install(1.0)
    lm_hooks.install(2.0)
    assert execution._delay is not original_delay and lm_hooks.installed()
    lm_hooks.uninstall()
    assert (execution._delay, execution.finalize) == (original_delay, original_finalize)
    assert not lm_hooks.installed()
