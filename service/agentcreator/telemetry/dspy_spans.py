"""openinference's DSPy instrumentation, minus the spans that repeat what our stage spans say,
and with its LLM span's attributes set once.

openinference wraps ``Module.__call__``, ``Predict.forward`` and ``Adapter.__call__`` as well as
``LM.__call__``: four nested spans per LLM call, each serializing the same 10+ KB of inputs
into ``input.value`` (a Predict call shows up as ``Predict(Sig).forward`` > ``Predict.forward``
> ``ChatAdapter.__call__`` > ``LM.__call__``). Our stage span already names the step, so only
the LLM spans (prompt, completion, model, usage) stay; that removes most of the
instrumentation's cost per call. Its TOOL spans (``code_interpreter.__call__``, and
``finish.__call__`` for ReAct's last step) are left out too: the pipeline's own "Code
Interpreter Tool" span is the contract's TOOL span and carries the tool's input and output itself.

The LLM span itself is built from openinference's own attribute functions, but started on the
SDK tracer with its attributes masked once: openinference's tracer masks and sets every
attribute twice (once for the sampler, once on its span proxy) and binds the call's arguments
with a fresh ``inspect.signature`` each time, which cost more than the span. ``input.value``,
``output.value`` and ``llm.invocation_parameters`` are the same JSON from orjson (compact, where
openinference's ``json.dumps`` puts a space after each separator), an order of magnitude faster.
The measurements are in docs/engineering-notes.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from enum import Enum
from inspect import Parameter, Signature, signature
from typing import TYPE_CHECKING, Any

import orjson
from openinference.instrumentation import get_attributes_from_context, safe_json_dumps
from openinference.instrumentation.dspy import DSPyInstrumentor
from opentelemetry import context as context_api
from opentelemetry.trace import StatusCode, use_span

from agentcreator.telemetry.metrics import app_metrics
from agentcreator.telemetry.seams import warn_once

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from openinference.instrumentation import TraceConfig
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

try:  # openinference's own attribute functions (0.1.48), private: an upgrade may move them
    from openinference.instrumentation.dspy import (
        _flatten,
        _llm_input_messages,
        _llm_model_name,
        _llm_output_messages,
        _llm_provider,
        _normalize_lm_arguments,
    )

    HELPERS_FOUND = True
except ImportError:
    HELPERS_FOUND = False

_log = logging.getLogger(__name__)
_SEAM = "openinference-instrumentation-dspy's LM wrapper helpers"

# openinference's wrap targets (0.1.48) that are left unwrapped: CHAIN spans whose inputs and
# outputs are the stage's, re-serialized, and TOOL spans that repeat our tool span. Predict
# subclasses are wrapped as "<Name>.forward".
SKIPPED_PREFIXES = ("Module.", "Adapter.", "Predict.", "Tool.")
# LM methods whose LLM span is ours (same attributes, set once); openinference's own otherwise.
LEAN_LM_METHODS = {"LM.__call__": False, "LM.acall": True, "DummyLM.__call__": False, "DummyLM.acall": True}


def mask_of(config: TraceConfig) -> Callable[[str, Any], Any]:
    """``config.mask``, or, when the config hides nothing, a function that sends only image keys
    through it: with every ``hide_*`` switch off, openinference's mask changes nothing but
    oversized base64 image URLs (a key with ``image`` in it), and each call cost ~1 µs."""
    if any(getattr(config, field.name) for field in fields(config) if field.name.startswith("hide_")):
        return config.mask

    def images_only(key: str, value: Any) -> Any:
        return config.mask(key, value) if "image" in key else value

    return images_only


def masked(mask: Callable[[str, Any], Any], pairs: Iterable[tuple[str, Any]]) -> dict[str, AttributeValue]:
    """Each value through ``mask`` (``mask_of(config)``), as openinference's span sets its
    attributes: values that are None, or that the mask removes, are left out (a hidden input
    becomes a marker)."""
    attributes = {}
    for key, value in pairs:
        if value is None:
            continue
        value = mask(key, value.value if isinstance(value, Enum) else value)
        if value is not None:
            attributes[key] = value
    return attributes


# Types orjson would write as their fields or ISO strings: handed to ``default=str`` instead, as
# ``json.dumps(default=str)`` (openinference's ``safe_json_dumps``) does.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def json_value(value: Any) -> str:
    """``safe_json_dumps(value)``'s data as compact JSON, by orjson; what orjson cannot write (keys
    that are not strings, integers beyond 64 bits, lone surrogates) goes to ``safe_json_dumps``."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return safe_json_dumps(value)


def _skipped(name: str) -> bool:
    from dspy import Predict

    if name.startswith(SKIPPED_PREFIXES):
        return True
    subclasses = {cls.__name__ for cls in Predict.__subclasses__()}
    return name.split(".", 1)[0] in subclasses


def _invocation_parameters(lm: Any, arguments: Mapping[str, Any]) -> str:
    """openinference's ``llm.invocation_parameters``: the LM's kwargs updated by the call's, without
    ``api_key``; written by ``json_value`` like the span's other JSON."""
    lm_kwargs = lm.kwargs if isinstance(getattr(lm, "kwargs", None), dict) else {}
    call_kwargs = arguments.get("kwargs")
    combined = lm_kwargs | (call_kwargs if isinstance(call_kwargs, dict) else {})
    combined.pop("api_key", None)
    return json_value(combined)


def _is_lm_call_shape(method_signature: Signature) -> bool:
    """Whether a (bound) method's signature is ``(prompt=None, *, messages=None, **kwargs)``."""
    shape = [(p.name, p.kind, p.default) for p in method_signature.parameters.values()]
    return shape == [("prompt", Parameter.POSITIONAL_OR_KEYWORD, None), ("messages", Parameter.KEYWORD_ONLY, None),
                     ("kwargs", Parameter.VAR_KEYWORD, Parameter.empty)]


class _LeanLMSpan:
    """An LLM span with exactly the attributes openinference's ``_LMCallWrapper`` records."""

    def __init__(self, oi_tracer: Any) -> None:
        self._tracer: Tracer = oi_tracer.__wrapped__  # the SDK tracer, openinference's scope
        self._config: TraceConfig = oi_tracer._self_config
        self._mask = mask_of(self._config)
        self._signatures: dict[Any, tuple[Signature, bool]] = {}  # and whether it is LM.__call__'s shape

    def _masked(self, attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """``_flatten`` then the config's mask, as openinference's span does; the helpers' values
        are flat, so the flattening (typing-generic isinstance checks) runs only when one is not."""
        if any(isinstance(value, dict | list) for value in attributes.values()):
            pairs: Iterable[tuple[str, Any]] = _flatten(attributes)
        else:
            pairs = attributes.items()
        return masked(self._mask, pairs)

    def _arguments(self, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict:
        """The call's arguments as openinference records them: bound to the method's signature,
        defaults applied, then normalized. For DSPy 3.4's ``(prompt=None, *, messages=None,
        **kwargs)`` that is ``{prompt, messages, kwargs}``, built directly (binding cost ~15 µs
        of a call in the running pipeline)."""
        function = getattr(wrapped, "__func__", wrapped)
        entry = self._signatures.get(function)
        if entry is None:
            method_signature = signature(wrapped)
            entry = self._signatures[function] = (method_signature, _is_lm_call_shape(method_signature))
        method_signature, lm_call_shape = entry
        if lm_call_shape and len(args) <= 1 and not (args and "prompt" in kwargs):
            rest = dict(kwargs)
            prompt = args[0] if args else rest.pop("prompt", None)
            return {"prompt": prompt, "messages": rest.pop("messages", None), "kwargs": rest}
        bound = method_signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return _normalize_lm_arguments(bound.arguments)

    def start(self, name: str, instance: Any, arguments: Mapping[str, Any]) -> Span:
        return self._tracer.start_span(name, attributes=self._masked({
            "openinference.span.kind": "LLM",
            "input.mime_type": "application/json",
            "input.value": json_value(arguments),
            **dict(_llm_model_name(instance)),
            **dict(_llm_provider(instance)),
            "llm.invocation_parameters": _invocation_parameters(instance, arguments),
            **dict(_llm_input_messages(arguments)),
            **dict(get_attributes_from_context()),
        }))

    def finish(self, span: Span, response: Any) -> None:
        span.set_status(StatusCode.OK)
        if span.is_recording():
            span.set_attributes(self._masked({
                "output.value": json_value(response),
                "output.mime_type": "application/json",
                **dict(_llm_output_messages(response)),
            }))


def _record_call(instance: Any, started: float, error: BaseException | None) -> None:
    """gen_ai.client.operation.duration for one LM call, sampled or not."""
    model = getattr(instance, "model", None)
    app_metrics().llm_call(model if isinstance(model, str) else "", time.perf_counter() - started, error)


class _LeanLMCallWrapper(_LeanLMSpan):
    def __call__(self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: Mapping[str, Any]) -> Any:
        if context_api.get_value(context_api._SUPPRESS_INSTRUMENTATION_KEY):
            return wrapped(*args, **kwargs)
        span = self.start(type(instance).__name__ + ".__call__", instance, self._arguments(wrapped, args, kwargs))
        started = time.perf_counter()
        try:
            with use_span(span, end_on_exit=True):
                response = wrapped(*args, **kwargs)
                self.finish(span, response)
        except BaseException as error:
            _record_call(instance, started, error)
            raise
        _record_call(instance, started, None)
        return response


class _LeanLMAcallWrapper(_LeanLMSpan):
    async def __call__(self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: Mapping[str, Any]) -> Any:
        if context_api.get_value(context_api._SUPPRESS_INSTRUMENTATION_KEY):
            return await wrapped(*args, **kwargs)
        span = self.start(type(instance).__name__ + ".acall", instance, self._arguments(wrapped, args, kwargs))
        started = time.perf_counter()
        try:
            with use_span(span, end_on_exit=True):
                response = await wrapped(*args, **kwargs)
                self.finish(span, response)
        except BaseException as error:
            _record_call(instance, started, error)
            raise
        _record_call(instance, started, None)
        return response


class LeanDSPyInstrumentor(DSPyInstrumentor):
    """Wraps ``LM`` (LLM spans) and DSPy's retrievers, not its modules, adapters or tools;
    ``uninstrument`` undoes exactly that."""

    # BaseInstrumentor is a singleton per class through ``cls._instance``: without our own, a
    # DSPyInstrumentor made first in the process would be handed back for this class too.
    _instance = None

    def _wrap_object(self, module: str, name: str, factory: Any, args: Any = (), kwargs: Any = None) -> None:
        if _skipped(name):
            return
        if name in LEAN_LM_METHODS and self._lean_lm_spans():
            wrapper = _LeanLMAcallWrapper if LEAN_LM_METHODS[name] else _LeanLMCallWrapper
            args = (wrapper(self._tracer),)
        super()._wrap_object(module, name, factory, args, kwargs)

    def _lean_lm_spans(self) -> bool:
        """Whether our LM wrapper can stand in for openinference's: its helpers and tracer are
        as in 0.1.48, and its GenAI-semconv mode (which our wrapper does not do) is off."""
        config = getattr(self._tracer, "_self_config", None)
        if not HELPERS_FOUND or config is None or not hasattr(self._tracer, "__wrapped__"):
            warn_once(_log, _SEAM, "%s changed: LLM spans use its own wrapper "
                      "(and gen_ai.client.operation.duration is not recorded)", _SEAM)
            return False
        return not config.enable_genai_semconv
