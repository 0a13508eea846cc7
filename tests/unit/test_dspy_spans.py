"""Our LLM span carries exactly what openinference's own LM wrapper records (0.1.48); its JSON values
are the same data, written compactly."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime

import dspy
import pytest
from openinference.instrumentation import TraceConfig, using_session
from openinference.instrumentation.dspy import DSPyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentcreator.pipeline.offline_lm import OFFLINE_MODEL, OfflineEngine, OfflineOptions
from agentcreator.telemetry.dspy_spans import LeanDSPyInstrumentor

MESSAGES = [{"role": "system", "content": "Your output fields are:\n1. `plan` (str)\nAll interactions"},
            {"role": "user", "content": "[[ ## sop ## ]]\nRefund the café order — step 1. " * 40}]


class _FailingEngine(OfflineEngine):
    def complete(self, request):
        raise RuntimeError("engine down")


class _AsyncEngine:
    def __init__(self, engine: OfflineEngine) -> None:
        self._engine = engine

    async def complete(self, request):
        return self._engine.complete(request)


def _lm(engine=None) -> dspy.LM:
    engine = engine or OfflineEngine(OfflineOptions())
    return dspy.LM(OFFLINE_MODEL, engine=engine, async_engine=_AsyncEngine(engine), cache=False, num_retries=0,
                   temperature=0.2)


def _call_sync(lm):
    with using_session("s-1"):
        lm(messages=MESSAGES)
        lm("a bare prompt")
        lm(prompt="a keyword prompt", temperature=0.3)  # and a call-time LM argument


def _call_async(lm):
    asyncio.run(lm.acall(messages=MESSAGES))


def _call_failing(lm):
    with pytest.raises(Exception, match="engine down"):
        lm(messages=MESSAGES)


def _spans(instrumentor_class, call, engine=None, config=None):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrumentor_class()
    assert type(instrumentor) is instrumentor_class
    instrumentor.instrument(tracer_provider=provider, config=config or TraceConfig())
    try:
        call(_lm(engine))
    finally:
        instrumentor.uninstrument()
    return exporter.get_finished_spans()


JSON_VALUED = ("input.value", "output.value", "llm.invocation_parameters")


def _attributes(span):
    """The span's attributes, JSON values parsed: ours are compact, openinference's spaced."""
    attributes = dict(span.attributes)
    for key in JSON_VALUED:
        if key in attributes and attributes[key] != "__REDACTED__":
            attributes[key] = json.loads(attributes[key])
    return attributes


def _shape(span):
    events = [(event.name, {k: v for k, v in event.attributes.items() if k != "exception.stacktrace"})
              for event in span.events]
    return (span.name, span.kind, span.status.status_code, span.status.description, _attributes(span),
            events, span.instrumentation_scope)


@pytest.mark.parametrize("call, engine", [(_call_sync, None), (_call_async, None), (_call_failing, _FailingEngine)],
                         ids=["sync", "async", "failing"])
@pytest.mark.parametrize("config", [TraceConfig(), TraceConfig(hide_inputs=True, hide_outputs=True),
                                    TraceConfig(hide_input_messages=True, hide_llm_invocation_parameters=True)],
                         ids=["default", "hidden", "messages-hidden"])
def test_lean_llm_span_equals_openinferences(call, engine, config) -> None:
    theirs = _spans(DSPyInstrumentor, call, engine and engine(OfflineOptions()), config)
    ours = _spans(LeanDSPyInstrumentor, call, engine and engine(OfflineOptions()), config)
    theirs = [span for span in theirs if span.attributes.get("openinference.span.kind") == "LLM"]
    assert theirs and [_shape(span) for span in ours] == [_shape(span) for span in theirs]


def test_lean_llm_span_records_the_call() -> None:
    [span] = _spans(LeanDSPyInstrumentor, lambda lm: lm(messages=MESSAGES))
    assert span.status.status_code is StatusCode.OK
    assert span.attributes["llm.input_messages.1.message.content"] == MESSAGES[1]["content"]
    assert "café" in span.attributes["input.value"] and span.attributes["output.value"].startswith('["[[ ## plan')


def test_without_openinferences_helpers_its_own_lm_wrapper_is_kept(monkeypatch, caplog) -> None:
    from openinference.instrumentation.dspy import _LMCallWrapper

    from agentcreator.telemetry import dspy_spans, seams

    monkeypatch.setattr(dspy_spans, "HELPERS_FOUND", False)
    monkeypatch.setattr(seams, "_warned", set())
    instrumentor = LeanDSPyInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider())
    try:
        assert isinstance(dspy.LM.__dict__["__call__"]._self_wrapper, _LMCallWrapper)
    finally:
        instrumentor.uninstrument()
    assert caplog.text.count("LLM spans use its own wrapper") == 1


@dataclass
class _Point:
    x: int


@pytest.mark.parametrize("value", [
    {"messages": MESSAGES, "kwargs": {"temperature": 0.2}, "prompt": None},
    {"when": datetime(2026, 1, 2, 3, 4, 5), "point": _Point(1), "set": {1}},  # default=str, as json.dumps
    {1: "int key"}, {"big": 2**70}, {"broken": "a\ud800"},  # what orjson refuses: json.dumps writes it
])
def test_json_values_are_safe_json_dumps_data(value) -> None:
    from openinference.instrumentation import safe_json_dumps

    from agentcreator.telemetry.dspy_spans import json_value

    ours = json_value(value)
    assert json.loads(ours) == json.loads(safe_json_dumps(value))
    assert len(ours) <= len(safe_json_dumps(value))


def test_a_config_that_hides_nothing_still_masks_oversized_images() -> None:
    from agentcreator.telemetry.dspy_spans import mask_of

    config = TraceConfig()
    key = "llm.input_messages.0.message.contents.0.message_content.image.image.url"
    image = "data:image/png;base64," + "A" * (config.base64_image_max_length + 1)
    assert mask_of(config)(key, image) == config.mask(key, image) != image
    assert mask_of(config)("input.value", "text") == "text"
