"""The cached formatting gives the LM exactly what DSPy's own classes give it."""

from __future__ import annotations

import gc

import dspy
import pytest

from agentcreator.pipeline import agent_creator, formatting, invocation
from agentcreator.pipeline import signatures as sig
from agentcreator.pipeline.formatting import CachingChatAdapter
from tests.unit.conftest import run_pipeline

SIGNATURES = [sig.ParseVoicePersonality, sig.ParseSOP, sig.DraftPlan, sig.ReviewPlan, sig.GenerateCode,
              sig.ReviewCode, sig.GeneratePrompt]
LM = "offline:plan_rejections=2,code_rejections=2"


def _llm_messages(run) -> list[tuple[str, str]]:
    """Every LLM call's request and answer, in a stable order (stages run in parallel)."""
    spans = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    return sorted((s.attributes["input.value"], s.attributes["output.value"]) for s in spans)


def test_a_whole_run_sends_the_same_messages_as_dspys_own_adapter_and_react(monkeypatch) -> None:
    cached = run_pipeline(LM)
    monkeypatch.setattr(formatting, "CachingChatAdapter", dspy.ChatAdapter)
    monkeypatch.setattr(agent_creator, "CachedTrajectoryReAct", dspy.ReAct)
    monkeypatch.setattr(invocation, "_module", None)  # rebuilt with DSPy's ReAct
    stock = run_pipeline(LM)
    assert cached.error is None and stock.error is None
    assert type(invocation._agent_creator().generate_code) is dspy.ReAct  # the comparison is real
    messages = _llm_messages(cached)
    assert len(messages) > 15  # every stage, both loops repeated
    assert any("observation_0" in request for request, _ in messages)  # a formatted trajectory is among them
    assert messages == _llm_messages(stock)


@pytest.mark.parametrize("signature", SIGNATURES, ids=lambda s: s.__name__)
def test_each_system_message_is_dspys_and_built_once(signature) -> None:
    adapter = CachingChatAdapter()
    first = adapter.format_system_message(signature)
    assert first == dspy.ChatAdapter().format_system_message(signature)
    assert CachingChatAdapter().format_system_message(signature) is first


def test_signatures_made_on_the_fly_are_not_kept_alive() -> None:
    made = dspy.Signature("question -> answer", "Answer briefly.")
    CachingChatAdapter().format_system_message(made)
    before = len(CachingChatAdapter._system_messages)
    del made
    gc.collect()
    assert len(CachingChatAdapter._system_messages) == before - 1
