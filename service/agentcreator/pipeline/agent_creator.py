"""The AgentCreator DSPy module: SOP + voice description → plan, tool code, system prompt.

Independent work runs in parallel with the OTel context carried into each worker
(``contextvars.copy_context``), so the trace stays one tree with its baggage:

    Parse Voice Personality ───────────────────────────────────────────┐
    Parse SOP → (Draft Plan → Review Plan)×≤4 ─┬→ (Generate Code → Review Code)×≤3
                                               └→ Generate Prompt (waits for the voice)
"""

from __future__ import annotations

import contextvars
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dspy
from opentelemetry.trace import Status, StatusCode

from agentcreator.pipeline import signatures as sig
from agentcreator.pipeline.formatting import CachedTrajectoryReAct
from agentcreator.pipeline.stages import (
    DRAFT_PLAN,
    GENERATE_CODE,
    GENERATE_PROMPT,
    PARSE_SOP,
    PARSE_VOICE_PERSONALITY,
    REVIEW_CODE,
    REVIEW_PLAN,
    stage_span,
)
from agentcreator.telemetry import app_metrics, content_attributes, get_tracer
from agentcreator.telemetry.genai import tool_attributes
from agentcreator.tools import run_python
from agentcreator.tools.code_interpreter import REFUSED_STATUS

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_PLAN_ITERATIONS = 4
MAX_CODE_ITERATIONS = 3
CODE_INTERPRETER_SPAN = "Code Interpreter Tool"


def code_interpreter(code: str) -> str:
    """Run a complete Python module in a sandbox and return its exit status and output."""
    with get_tracer().start_as_current_span(
        CODE_INTERPRETER_SPAN,
        attributes={"openinference.span.kind": "TOOL", "tool.name": "code_interpreter",
                    # ReAct gives its tool calls no id: ours tells one call from another
                    **dict(tool_attributes("code_interpreter", f"call_{uuid.uuid4().hex[:24]}")),
                    **content_attributes("input", code)},
    ) as span:
        started = time.perf_counter()
        result = run_python(code)
        app_metrics().sandbox_run("code_interpreter", time.perf_counter() - started, sandbox_outcome(result))
        report = result.report()
        span.set_attributes(
            {
                "agentcreator.tool.exit_code": -1 if result.exit_code is None else result.exit_code,
                "agentcreator.tool.timed_out": result.timed_out,
                "agentcreator.tool.memory_exceeded": result.memory_exceeded,
                "agentcreator.tool.duration_ms": result.duration_ms,
                **content_attributes("output", report),
            }
        )
        span.set_status(Status(StatusCode.OK) if result.ok else Status(StatusCode.ERROR, report[:200]))
        return report


def sandbox_outcome(result: Any) -> str:
    """``ok``, ``timeout``, ``memory``, ``refused`` (not confined, not run) or ``error`` (non-zero exit)."""
    if result.ok:
        return "ok"
    if result.timed_out:
        return "timeout"
    if result.memory_exceeded:
        return "memory"
    return "refused" if result.exit_code == REFUSED_STATUS else "error"


@dataclass
class StageLog:
    """Per-stage iterations and outcome: returned to callers and set on the root span."""

    iterations: dict[str, int] = field(default_factory=dict)
    plan_approved: bool = False
    code_approved: bool = False

    def count(self, stage: str, iteration: int = 1) -> None:
        self.iterations[stage] = max(self.iterations.get(stage, 0), iteration)


def _in_thread(pool: ThreadPoolExecutor, fn: Any, *args: Any) -> Future:
    """Submit with a copy of the current context: OTel parentage, baggage and DSPy settings."""
    return pool.submit(contextvars.copy_context().run, fn, *args)


class AgentCreator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.parse_voice_personality = dspy.Predict(sig.ParseVoicePersonality)
        self.parse_sop = dspy.Predict(sig.ParseSOP)
        self.draft_plan = dspy.Predict(sig.DraftPlan)
        self.review_plan = dspy.Predict(sig.ReviewPlan)
        self.generate_code = CachedTrajectoryReAct(sig.GenerateCode, tools=[code_interpreter], max_iters=4)
        self.review_code = dspy.Predict(sig.ReviewCode)
        self.generate_prompt = dspy.Predict(sig.GeneratePrompt)

    def _stage(self, name: str, predictor: Any, log: StageLog, iteration: int | None = None, **inputs: Any) -> Any:
        with stage_span(name, iteration):
            output = predictor(**inputs)
        log.count(name, iteration or 1)
        return output

    @staticmethod
    def _until_approved(
        limit: int, produce: Callable[[int, str], Any], review: Callable[[int, Any], Any]
    ) -> tuple[Any, bool]:
        """Produce, review, and produce again with the review's feedback, until approved or out of turns."""
        feedback, output = "none", None
        for iteration in range(1, limit + 1):
            output = produce(iteration, feedback)
            verdict = review(iteration, output)
            if verdict.verdict == "approve":
                return output, True
            feedback = verdict.feedback
        return output, False

    def _plan_loop(self, sop: Any, log: StageLog) -> str:
        plan, log.plan_approved = self._until_approved(
            MAX_PLAN_ITERATIONS,
            lambda iteration, feedback: self._stage(
                DRAFT_PLAN, self.draft_plan, log, iteration,
                sop_summary=sop.sop_summary, steps=sop.steps, tools_needed=sop.tools_needed,
                review_feedback=feedback,
            ).plan,
            lambda iteration, plan: self._stage(
                REVIEW_PLAN, self.review_plan, log, iteration, steps=sop.steps, plan=plan
            ),
        )
        return plan

    def _code_loop(self, plan: str, sop: Any, log: StageLog) -> str:
        def review(iteration: int, generated: Any) -> Any:
            observations = [v for k, v in generated.trajectory.items() if k.startswith("observation_")]
            report = observations[-1] if observations else "the code was not run"
            return self._stage(REVIEW_CODE, self.review_code, log, iteration,
                               plan=plan, code=generated.code, test_report=report)

        generated, log.code_approved = self._until_approved(
            MAX_CODE_ITERATIONS,
            lambda iteration, feedback: self._stage(
                GENERATE_CODE, self.generate_code, log, iteration,
                plan=plan, tools_needed=sop.tools_needed, review_feedback=feedback,
            ),
            review,
        )
        return generated.code

    def forward(self, sop: str, voice_personality: str) -> dspy.Prediction:
        """DSPy's entry point (``module(...)``); the invocation calls ``create_agent`` directly."""
        return self.create_agent(sop, voice_personality)

    def create_agent(self, sop: str, voice_personality: str) -> dspy.Prediction:
        """Compose the stages. Called directly by the invocation so that the stages are the root
        span's children, without openinference's ``Module.__call__`` CHAIN span between them."""
        log = StageLog()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="agentcreator-stage") as pool:
            voice_future = _in_thread(
                pool,
                lambda: self._stage(
                    PARSE_VOICE_PERSONALITY, self.parse_voice_personality, log, voice_personality=voice_personality
                ),
            )
            parsed_sop = self._stage(PARSE_SOP, self.parse_sop, log, sop=sop)
            plan = self._plan_loop(parsed_sop, log)

            def prompt_stage() -> str:
                voice = voice_future.result()
                return self._stage(
                    GENERATE_PROMPT, self.generate_prompt, log,
                    voice_profile=voice.voice_profile, tone_traits=voice.tone_traits,
                    plan=plan, tool_names=parsed_sop.tools_needed,
                ).system_prompt

            prompt_future = _in_thread(pool, prompt_stage)
            code = self._code_loop(plan, parsed_sop, log)
            system_prompt = prompt_future.result()
        return dspy.Prediction(plan=plan, code=code, system_prompt=system_prompt, stage_log=log)
