"""DSPy signatures of the pipeline: each docstring is the instruction the LM receives."""

from __future__ import annotations

from typing import Literal

import dspy

Verdict = Literal["approve", "revise"]


class ParseVoicePersonality(dspy.Signature):
    """Read a description of a voice agent's personality and distil it into a concise voice
    profile (tone, pacing, vocabulary, what to avoid) that a prompt writer can follow."""

    voice_personality: str = dspy.InputField(desc="free-text description of the desired personality")
    voice_profile: str = dspy.OutputField(desc="the distilled voice profile, a short paragraph")
    tone_traits: list[str] = dspy.OutputField(desc="three to six adjectives for the tone")


class ParseSOP(dspy.Signature):
    """Read a standard operating procedure and extract what an agent must do: a summary,
    the ordered steps, and the tools (systems, lookups, actions) the steps need."""

    sop: str = dspy.InputField(desc="the standard operating procedure, usually Markdown")
    sop_summary: str = dspy.OutputField(desc="two or three sentences on the procedure's purpose")
    steps: list[str] = dspy.OutputField(desc="the procedure's steps, in order, one sentence each")
    tools_needed: list[str] = dspy.OutputField(desc="snake_case names of the tools the steps need")


class DraftPlan(dspy.Signature):
    """Draft an implementation plan for a voice agent that carries out the procedure: the
    conversation flow, which tool is called at each step, and how failures are handled.
    Address every point of the review feedback when there is any."""

    sop_summary: str = dspy.InputField()
    steps: list[str] = dspy.InputField()
    tools_needed: list[str] = dspy.InputField()
    review_feedback: str = dspy.InputField(desc="feedback on the previous draft, or 'none'")
    plan: str = dspy.OutputField(desc="the plan as numbered Markdown sections")


class ReviewPlan(dspy.Signature):
    """Review a plan against the procedure: approve it only if every step is covered, each
    tool is used where needed and failure handling is explicit; otherwise ask for a revision."""

    steps: list[str] = dspy.InputField()
    plan: str = dspy.InputField()
    verdict: Verdict = dspy.OutputField()
    feedback: str = dspy.OutputField(desc="what must change, or why it is approved")


class GenerateCode(dspy.Signature):
    """Write the Python tool module the plan needs: one function per tool, typed, with
    docstrings and input validation, plus a self-test. Run it with the code interpreter
    before finishing and fix what fails. Address the review feedback when there is any."""

    plan: str = dspy.InputField()
    tools_needed: list[str] = dspy.InputField()
    review_feedback: str = dspy.InputField(desc="feedback on the previous code, or 'none'")
    code: str = dspy.OutputField(desc="the complete Python module")


class ReviewCode(dspy.Signature):
    """Review generated tool code against the plan and its test run: approve it only if every
    planned tool exists, inputs are validated and the self-test passed."""

    plan: str = dspy.InputField()
    code: str = dspy.InputField()
    test_report: str = dspy.InputField(desc="what the code interpreter printed when the code ran")
    verdict: Verdict = dspy.OutputField()
    feedback: str = dspy.OutputField()


class GeneratePrompt(dspy.Signature):
    """Write the system prompt of the new voice agent: its role, the voice profile, the
    conversation flow of the plan and when to call each tool."""

    voice_profile: str = dspy.InputField()
    tone_traits: list[str] = dspy.InputField()
    plan: str = dspy.InputField()
    tool_names: list[str] = dspy.InputField()
    system_prompt: str = dspy.OutputField()
