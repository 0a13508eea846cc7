"""Pay the pipeline's import cost in the background, so neither /ping nor the first caller waits.

Importing DSPy and LiteLLM takes seconds; the server answers /ping before this starts, and a
first invocation that arrives meanwhile simply waits on the same imports. Then the objects
those imports made are frozen out of the garbage collector's sight (``gc.freeze``), and once
more after the first invocation, whose caches (DSPy's, pydantic's) live as long as the process
too. Every full collection walked them all with every thread stopped, long enough to set a
loaded server's p99 latency (figures in docs/engineering-notes.md).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcreator.config import Settings

_log = logging.getLogger(__name__)
_settled = threading.Event()


def _freeze_long_lived() -> None:
    gc.collect()  # garbage frozen now would never be freed
    gc.freeze()


def settle_after_first_invocation() -> None:
    """Freeze what the first invocation built to last; once per process, later calls return at once."""
    if _settled.is_set():
        return
    _settled.set()
    _freeze_long_lived()


def _warm(settings: Settings) -> None:
    started = time.perf_counter()
    try:
        import dspy  # noqa: F401

        from agentcreator.pipeline import agent_creator  # noqa: F401
        from agentcreator.pipeline.lm import build_lm, is_offline
        from agentcreator.telemetry.setup import ensure_dspy_instrumented

        if not is_offline(settings.lm):
            import litellm  # noqa: F401

        from agentcreator.telemetry import pricing

        ensure_dspy_instrumented()
        build_lm(settings.lm, settings)
        pricing.load()  # LiteLLM's price map, read once
        from agentcreator.tools.code_interpreter import start_sandbox

        start_sandbox()
    except Exception:  # the first invocation will meet the same problem and report it properly
        _log.warning("pipeline warm-up failed", exc_info=True)
        return
    _freeze_long_lived()
    _log.info("pipeline warmed up in %.2f s", time.perf_counter() - started)


def start_warmup(settings: Settings) -> threading.Thread:
    """A daemon thread: it must never hold the process open at shutdown."""
    thread = threading.Thread(target=_warm, args=(settings,), name="pipeline-warmup", daemon=True)
    thread.start()
    return thread
