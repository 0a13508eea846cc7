"""Build the DSPy LM for a model string: the offline engine, or LiteLLM for everything else."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agentcreator.pipeline.offline_lm import OFFLINE_MODEL, OfflineEngine, parse_offline_model

if TYPE_CHECKING:
    import dspy

    from agentcreator.config import Settings

_cache: dict[tuple[str, float, int], dspy.LM] = {}
_lock = threading.Lock()


def is_offline(model: str) -> bool:
    return model == "offline" or model.startswith("offline:")


def validate_model(model: str, variable: str = "AGENTCREATOR_LM") -> None:
    """Fail fast on a malformed model string, before any work or span."""
    if is_offline(model):
        parse_offline_model(model, variable)


def build_lm(model: str, settings: Settings) -> dspy.LM:
    """One LM per model string, reused across invocations (DSPy LMs are thread-safe).

    DSPy's cache is off: a cached answer carries no usage and would hide a call from the trace.
    """
    import dspy

    key = (model, settings.lm_timeout_s, settings.lm_retries)
    with _lock:
        if key not in _cache:
            if is_offline(model):
                engine = OfflineEngine(parse_offline_model(model))
                _cache[key] = dspy.LM(OFFLINE_MODEL, engine=engine, cache=False, num_retries=0)
            else:
                _cache[key] = dspy.LM(
                    model,
                    engine="litellm",
                    cache=False,
                    num_retries=settings.lm_retries,
                    timeout=settings.lm_timeout_s,
                )
        return _cache[key]
