"""The offline LM: a deterministic, SIMULATED language model plugged in as a DSPy engine.

It goes through ``dspy.LM`` and DSPy's adapters exactly as Bedrock would (so openinference
traces it the same way), answers every signature of the pipeline with a plausible,
well-formed output derived from its inputs, and reports token usage (estimated at four
characters a token). Options in the model string drive the loops and failures:

    offline:plan_rejections=4,code_rejections=3,latency_ms=200,fail_stage=review_plan

Its (estimated) tokens are priced as the model it stands in for, ``price_as`` (the default
Bedrock model; ``price_as=none`` for no cost): a simulated cost, on spans marked simulated.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from agentcreator.config import DEFAULT_LM, ConfigError
from agentcreator.pipeline.stages import REVIEW_PLAN, STAGES, current_stage, stage_slug

OFFLINE_MODEL = "offline/agentcreator-simulated"
PRICED_AS = DEFAULT_LM.split("/", 1)[-1]  # the default AGENTCREATOR_LM's model, without LiteLLM's route
_FIELD = re.compile(r"^\d+\. `(\w+)` \(([^)]*)\)", re.MULTILINE)
_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\[\[ ## |\Z)", re.DOTALL)
_WORD = re.compile(r"[a-z][a-z0-9]+")
_TOOL_VERBS = ("verify", "check", "look", "create", "issue", "send", "update", "escalate", "record",
               "notify", "approve", "grant", "revoke", "reset", "schedule", "refund", "confirm")
_TONE_WORDS = ("warm", "calm", "concise", "friendly", "patient", "professional", "empathetic", "upbeat",
               "formal", "clear", "reassuring", "direct", "playful", "confident", "polite")


class SimulatedFailure(RuntimeError):
    """The failure ``fail_stage=`` asked for; raised inside the LM call like a provider error."""


@dataclass(frozen=True)
class OfflineOptions:
    plan_rejections: int = 0
    code_rejections: int = 0
    latency_ms: float = 0.0
    fail_stage: str | None = None
    price_as: str | None = PRICED_AS


def parse_offline_model(model: str, variable: str = "AGENTCREATOR_LM") -> OfflineOptions:
    """``offline`` or ``offline:k=v,...`` → options; anything malformed is one ConfigError line."""
    _, _, raw = model.partition(":")
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(OfflineOptions)}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(f"{variable}: unknown offline option {item!r} (known: {', '.join(known)})")
        if key == "fail_stage":
            slugs = {stage_slug(name) for name in STAGES}
            if value not in slugs:
                raise ConfigError(f"{variable}: fail_stage={value!r} is not one of {', '.join(sorted(slugs))}")
            values[key] = value
            continue
        if key == "price_as":
            if not value:
                raise ConfigError(f"{variable}: price_as needs a model id (or none)")
            values[key] = None if value == "none" else value
            continue
        try:
            number = float(value) if key == "latency_ms" else int(value)
        except ValueError:
            raise ConfigError(f"{variable}: offline option {key}={value!r} is not a number") from None
        if number < 0:
            raise ConfigError(f"{variable}: offline option {key} must not be negative")
        values[key] = number
    return OfflineOptions(**values)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _slug(text: str, limit: int = 3) -> str:
    return "_".join(_WORD.findall(text.lower())[:limit]) or "step"


class _Inputs:
    """The input fields of one request, as ChatAdapter laid them out in the user message."""

    def __init__(self, text: str) -> None:
        text = text.split("\n\nRespond with the corresponding output fields", 1)[0]
        self.values = {name: value.strip() for name, value in _SECTION.findall(text)}
        self.tool_ran = "observation_0" in self.values  # ReAct's trajectory lists each observation

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def list(self, name: str) -> list[str]:
        raw = self.get(name)
        try:
            value = json.loads(raw)
            return [str(item) for item in value] if isinstance(value, list) else [raw]
        except ValueError:
            return [line.strip("-* ") for line in raw.splitlines() if line.strip()]

    @cached_property
    def steps(self) -> list[str]:
        """The plan's steps: given as a field, or read from the SOP (once per request, not per field)."""
        return self.list("steps") or _sop_steps(self.get("sop"))

    @cached_property
    def tools(self) -> list[str]:
        return self.list("tools_needed") or self.list("tool_names") or _tools(self.steps)


def _sop_steps(sop: str) -> list[str]:
    steps = [m.group(1).strip() for m in re.finditer(r"^\s*\d+[.)]\s+(.+)$", sop, re.MULTILINE)]
    if not steps:
        steps = [m.group(1).strip() for m in re.finditer(r"^\s*[-*]\s+(.+)$", sop, re.MULTILINE)]
    if not steps:
        steps = [line.lstrip("# ").strip() for line in sop.splitlines() if line.startswith("## ")]
    return steps[:12] or ["Greet the caller and establish what they need."]


_STOPWORDS = frozenset({"the", "a", "an", "by", "to", "their", "whether", "its", "of", "for", "and", "up"})


def _tools(steps: list[str]) -> list[str]:
    tools: list[str] = []
    for step in steps:
        words = [w for w in _WORD.findall(step.lower()) if w not in _STOPWORDS]
        for index, word in enumerate(words):
            if word in _TOOL_VERBS:
                name = "_".join(words[index : index + 3])
                if name not in tools:
                    tools.append(name)
                break
    return tools[:5] or ["lookup_record"]


def _code(tools: list[str], revision: int) -> str:
    functions = "\n\n".join(
        f'def {tool}(request: dict) -> dict:\n'
        f'    """{tool.replace("_", " ").capitalize()} for the caller."""\n'
        f'    if not isinstance(request, dict) or "caller_id" not in request:\n'
        f'        raise ValueError("request needs a caller_id")\n'
        f'    return {{"tool": "{tool}", "caller_id": request["caller_id"], "status": "done"}}'
        for tool in tools
    )
    calls = "\n".join(f'    assert {tool}({{"caller_id": "c-1"}})["status"] == "done"' for tool in tools)
    return (
        f'"""Tools for the generated agent (revision {revision})."""\n\n{functions}\n\n\n'
        f"def _self_test() -> None:\n{calls}\n    print(\"self-test passed: {len(tools)} tools\")\n\n\n"
        '_self_test()\n'
    )


class OfflineEngine:
    """DSPy engine contract (``complete(Request) -> Response``); answers by output field names."""

    def __init__(self, options: OfflineOptions) -> None:
        self.options = options

    def _verdict(self, stage: str, iteration: int) -> tuple[str, str]:
        limit = self.options.plan_rejections if stage == REVIEW_PLAN else self.options.code_rejections
        if iteration <= limit:
            return "revise", f"Revision {iteration} requested: make failure handling explicit for every step."
        return "approve", "Every step is covered, tools are used where needed and failures are handled."

    def _answer(self, name: str, inputs: _Inputs, stage_name: str, iteration: int) -> Any:
        steps, tools = inputs.steps, inputs.tools
        if name == "voice_profile":
            text = " ".join(inputs.get("voice_personality").split())
            return f"Speak as described: {text[:400]}"
        if name == "tone_traits":
            words = set(_WORD.findall(inputs.get("voice_personality").lower()))
            return [w for w in _TONE_WORDS if w in words][:6] or ["warm", "concise", "patient"]
        if name == "sop_summary":
            sop = inputs.get("sop")
            title = next((line.lstrip("# ") for line in sop.splitlines() if line.startswith("#")), "Procedure")
            return f"{title}: {len(steps)} steps, carried out by a voice agent with {len(tools)} tools."
        if name == "steps":
            return steps
        if name == "tools_needed":
            return tools
        if name == "plan":
            sections = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))
            return (f"## Plan (draft {iteration})\n{sections}\n\n## Tools\n"
                    + "\n".join(f"- `{tool}`" for tool in tools)
                    + "\n\n## Failure handling\nOn any tool error, apologise, retry once, then escalate.")
        if name in ("verdict", "feedback"):
            verdict, feedback = self._verdict(stage_name, iteration)
            return verdict if name == "verdict" else feedback
        if name == "next_thought":
            return "The self-test passed." if inputs.tool_ran else "Run the module's self-test."
        if name == "next_tool_name":
            return "finish" if inputs.tool_ran else "code_interpreter"
        if name == "next_tool_args":
            if inputs.tool_ran:
                return {}
            return {"code": _code(tools, iteration)}
        if name == "reasoning":
            return "The self-test passed, so the module is complete."
        if name == "code":
            return _code(tools, iteration)
        if name == "system_prompt":
            return (f"You are a voice agent. {inputs.get('voice_profile')}\n\nFollow this plan:\n"
                    f"{inputs.get('plan')}\n\nTools: {', '.join(tools)}.")
        return f"(simulated {name})"

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        system = request.system if isinstance(request.system, str) else "".join(
            part.text for part in (request.system or ())
        )
        user = "\n".join(message.text or "" for message in request.messages)
        stage = current_stage.get()
        stage_name, iteration = (stage.name, stage.iteration or 1) if stage else ("", 1)
        if self.options.latency_ms:
            time.sleep(self.options.latency_ms / 1000)
        if stage and self.options.fail_stage == stage_slug(stage_name):
            raise SimulatedFailure(f"simulated LM failure in {stage_name} (fail_stage option)")
        output_section = system.split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
        inputs = _Inputs(user)
        parts = []
        for name, type_name in _FIELD.findall(output_section):
            value = self._answer(name, inputs, stage_name, iteration)
            text = value if type_name == "str" or type_name.startswith("Literal") else json.dumps(value)
            parts.append(f"[[ ## {name} ## ]]\n{text}")
        answer = "\n\n".join([*parts, "[[ ## completed ## ]]"])
        return Response(
            id=None,
            model=OFFLINE_MODEL,
            message=Message.assistant([TextPart(answer)]),
            finish_reason="stop",
            usage=Usage(input_tokens=_tokens(system) + _tokens(user), output_tokens=_tokens(answer)),
        )

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release: the engine holds no connection."""
