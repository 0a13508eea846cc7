"""Build the DSPy LM for a model string: the offline engine, or LiteLLM for everything else."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agentcreator.pipeline.offline_lm import OFFLINE_MODEL, OfflineEngine, parse_offline_model

if TYPE_CHECKING:
    import dspy

    from agentcreator.config import Settings

_cache: dict[tuple[object, ...], dspy.LM] = {}
_lock = threading.Lock()


def is_offline(model: str) -> bool:
    return model == "offline" or model.startswith("offline:")


def is_bedrock(model: str) -> bool:
    """LiteLLM's Bedrock routes: ``bedrock/<id>``, ``bedrock/converse/<id>`` and the like."""
    return model.startswith("bedrock/")


def _bedrock_arguments(settings: Settings) -> dict[str, str]:
    """Region and endpoint from the AWS SDK variables, as LiteLLM's own arguments.

    LiteLLM ignores ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``; an explicit argument beats its
    ``AWS_BEDROCK_RUNTIME_ENDPOINT`` and leaves the process environment alone. Both values
    appear in the LLM span's ``llm.invocation_parameters``; credentials never pass here.
    """
    arguments = {}
    if settings.aws_region:
        arguments["aws_region_name"] = settings.aws_region
    if settings.bedrock_runtime_endpoint:
        arguments["aws_bedrock_runtime_endpoint"] = settings.bedrock_runtime_endpoint
    return arguments


def pricing_model(model: str) -> str | None:
    """The model whose prices apply: the model itself, or the one the offline LM stands in for."""
    return parse_offline_model(model).price_as if is_offline(model) else model


def validate_model(model: str, variable: str = "AGENTCREATOR_LM") -> None:
    """Fail fast on a malformed model string, before any work or span."""
    if is_offline(model):
        parse_offline_model(model, variable)


def build_lm(model: str, settings: Settings) -> dspy.LM:
    """One LM per model string, reused across invocations (DSPy LMs are thread-safe).

    DSPy's cache is off: a cached answer carries no usage and would hide a call from the trace.
    DSPy alone retries (it hands LiteLLM ``num_retries=0``), ``lm_retries`` times at most.
    """
    import dspy

    from agentcreator.pipeline import lm_hooks

    lm_hooks.install(settings.lm_retry_max_delay_s)  # retries bounded and on the trace, cache hits marked
    extra = _bedrock_arguments(settings) if is_bedrock(model) else {}
    key = (model, settings.lm_timeout_s, settings.lm_retries, *sorted(extra.items()))
    with _lock:
        if key not in _cache:
            if is_offline(model):
                engine = OfflineEngine(parse_offline_model(model))
                _cache[key] = dspy.LM(OFFLINE_MODEL, engine=engine, cache=False, num_retries=0)
            else:
                import litellm

                litellm.suppress_debug_info = True  # its "Give Feedback" banner would break one-line errors
                _cache[key] = dspy.LM(
                    model,
                    engine="litellm",
                    cache=False,
                    num_retries=settings.lm_retries,
                    timeout=settings.lm_timeout_s,
                    **extra,
                )
        return _cache[key]
