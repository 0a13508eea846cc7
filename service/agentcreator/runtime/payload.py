"""The ``/invocations`` payload, checked field by field into an ``InvocationRequest``.

``options`` policy: a client must not choose which model a production server calls (an
arbitrary LiteLLM model string could reach any provider with the task's credentials). So the
only option is ``lm``, and it is accepted only when the server itself runs the simulated LM
and the requested one is simulated too (``offline[:k=v,...]``: latency, rejections, failure
injection for tests and demos). Any other option key is a 422 naming it. Unknown top-level
keys are ignored, as AgentCore callers may add their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcreator.config import ConfigError
from agentcreator.pipeline import InvocationRequest
from agentcreator.pipeline.limits import MAX_SOP_BYTES, MAX_USER_ID_CHARS, MAX_VOICE_BYTES, agent_id_problem
from agentcreator.pipeline.lm import is_offline, validate_model
from agentcreator.runtime.problems import Problem, validation_problem

if TYPE_CHECKING:
    from agentcreator.config import Settings

KNOWN_OPTIONS = ("lm",)


def _text_problem(value: Any, *, max_bytes: int) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    if not value.strip():
        return "must not be empty"
    if size > max_bytes:
        return f"must be at most {max_bytes} bytes of UTF-8 (got {size})"
    return None


def _user_id_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string or null"
    if not 1 <= len(value) <= MAX_USER_ID_CHARS or not value.isprintable():
        return f"must be 1-{MAX_USER_ID_CHARS} printable characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def _lm_problem(value: Any, settings: Settings) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not is_offline(settings.lm):
        return "not allowed: this server's model is fixed by AGENTCREATOR_LM"
    if not is_offline(value):
        return "only offline[:options] models may be chosen per request"
    try:
        validate_model(value, "options.lm")
    except ConfigError as error:
        return str(error)
    return None


def _options(raw: Any, settings: Settings, problems: dict[str, str]) -> str | None:
    """The requested model, if any; problems are added under ``options`` / ``options.<key>``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems["options"] = "must be an object"
        return None
    for key in raw:
        if key not in KNOWN_OPTIONS:
            problems[f"options.{key}"] = f"unknown option (known: {', '.join(KNOWN_OPTIONS)})"
    if "lm" not in raw:
        return None
    problem = _lm_problem(raw["lm"], settings)
    if problem:
        problems["options.lm"] = problem
        return None
    return raw["lm"]


def parse_payload(payload: object, settings: Settings) -> InvocationRequest:
    """Every problem at once as one 422, or the request to run."""
    if not isinstance(payload, dict):
        raise Problem(422, "validation_error", "the request body must be a JSON object", fields={})
    problems: dict[str, str] = {}
    agent_id = payload.get("agent_id")
    if agent_id is None:
        problems["agent_id"] = "is required"
    elif not isinstance(agent_id, str):
        problems["agent_id"] = "must be a string"
    elif problem := agent_id_problem(agent_id):
        problems["agent_id"] = problem
    for name, limit in (("sop", MAX_SOP_BYTES), ("voice_personality", MAX_VOICE_BYTES)):
        if payload.get(name) is None:
            problems[name] = "is required"
        elif problem := _text_problem(payload[name], max_bytes=limit):
            problems[name] = problem
    user_id = payload.get("user_id")
    if user_id is not None and (problem := _user_id_problem(user_id)):
        problems["user_id"] = problem
    lm = _options(payload.get("options"), settings, problems)
    if problems:
        raise validation_problem(problems)
    return InvocationRequest(
        agent_id=agent_id, sop=payload["sop"], voice_personality=payload["voice_personality"], user_id=user_id, lm=lm
    )
