"""openinference's DSPy instrumentation, minus the spans that repeat what our stage spans say.

openinference wraps ``Module.__call__``, ``Predict.forward`` and ``Adapter.__call__`` as well as
``LM.__call__``: four nested spans per LLM call, each serializing the same 10+ KB of inputs
into ``input.value`` (a Predict call shows up as ``Predict(Sig).forward`` > ``Predict.forward``
> ``ChatAdapter.__call__`` > ``LM.__call__``). Our stage span already names the step, so only
the LLM spans (prompt, completion, model, usage) and the TOOL spans stay; that removes most of
the instrumentation's cost per call (measured in ``benchmarks/overhead.py``).
"""

from __future__ import annotations

from typing import Any

from openinference.instrumentation.dspy import DSPyInstrumentor

# openinference's wrap targets (0.1.48) that are left unwrapped: CHAIN spans whose inputs and
# outputs are the stage's, re-serialized. Predict subclasses are wrapped as "<Name>.forward".
SKIPPED_PREFIXES = ("Module.", "Adapter.", "Predict.")


def _skipped(name: str) -> bool:
    from dspy import Predict

    if name.startswith(SKIPPED_PREFIXES):
        return True
    subclasses = {cls.__name__ for cls in Predict.__subclasses__()}
    return name.split(".", 1)[0] in subclasses


class LeanDSPyInstrumentor(DSPyInstrumentor):
    """Wraps only ``LM`` (LLM spans) and ``Tool`` (TOOL spans); ``uninstrument`` undoes exactly that."""

    def _wrap_object(self, module: str, name: str, factory: Any, args: Any = (), kwargs: Any = None) -> None:
        if _skipped(name):
            return
        super()._wrap_object(module, name, factory, args, kwargs)
