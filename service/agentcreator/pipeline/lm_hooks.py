"""LM retries and cache hits made visible on the LLM span, and the retry wait bounded.

DSPy alone retries a throttled or failing call (it hands LiteLLM ``num_retries=0``): inside
``LM.__call__`` — so inside openinference's LLM span — it sleeps ``_delay(error, attempt)``
between attempts (1, 2, 4 ... s, or the provider's Retry-After, up to 60 s), then passes the
result, which knows whether it came from DSPy's cache, to ``finalize``. Wrapping those two
module functions adds an ``agentcreator.lm.retry`` event per retry, caps the wait (with
jitter, so throttled invocations do not retry in step), records the model that answered and
marks cache hits, which carry no usage. ``install`` is idempotent; ``uninstall`` puts DSPy's functions back.

Both functions are private to DSPy (3.4): when they are gone, or our wrappers fail on what
they are given, DSPy's own behaviour stays (uncapped waits, no retry events), with one warning.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from agentcreator.telemetry.seams import warn_once

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

RETRY_EVENT = "agentcreator.lm.retry"
RETRIES_ATTRIBUTE = "agentcreator.lm.retries"
CACHE_HIT_ATTRIBUTE = "agentcreator.lm.cache_hit"
RESPONSE_MODEL_ATTRIBUTE = "agentcreator.lm.response_model"  # exported as gen_ai.response.model

_log = logging.getLogger(__name__)
_SEAM = "dspy.clients.execution's _delay and finalize"
_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}
_max_delay_s = 20.0


def _warn_once(what: str) -> None:
    warn_once(_log, f"{_SEAM} {what}", "%s %s: LM retries wait as DSPy decides (uncapped, no retry events), "
              "cache hits are not marked", _SEAM, what)


def _retry_after(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _wire_response(error: BaseException) -> Any:
    """The HTTP response at the bottom of the cause chain: LiteLLM re-labels some statuses
    (Bedrock's 500 becomes its 503), the wire's status and ``x-amzn-ErrorType`` do not lie."""
    found, seen = None, set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(getattr(response, "status_code", None), int):
            found = response
        current = current.__cause__ or current.__context__
    return found


def _retry_attributes(error: BaseException, attempt: int, delay: float) -> Iterator[tuple[str, Any]]:
    yield "agentcreator.lm.attempt", attempt + 1  # the attempt that failed, counting from 1
    yield "error.type", type(error).__name__
    yield "agentcreator.lm.retry.delay_s", round(delay, 3)
    response = _wire_response(error)
    status = response.status_code if response is not None else getattr(error, "status", None)
    if isinstance(status, int):
        yield "http.response.status_code", status
    headers = getattr(response, "headers", None) or {}
    if code := (headers.get("x-amzn-errortype") or "").split(":", 1)[0]:
        yield "aws.error.code", code
    if request_id := getattr(error, "request_id", None):
        yield "aws.request_id", str(request_id)
    yield "exception.message", str(error).strip().split("\n", 1)[0][:256]  # DSPy appends "To fix:" lines


def _bounded_delay(*args: Any, **kwargs: Any) -> float:
    """DSPy's wait, capped; its exponential part gets equal jitter, a Retry-After is kept."""
    delay = _originals["_delay"](*args, **kwargs)
    try:
        return _bounded(delay, *args, **kwargs)
    except Exception:  # DSPy changed what it passes or returns: its own wait stands
        _warn_once("behave differently")
        return delay


def _bounded(delay: float, error: BaseException, attempt: int) -> float:
    delay = min(delay, _max_delay_s)
    if _retry_after(error) is None:
        delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - spreading retries, not security
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(RETRY_EVENT, dict(_retry_attributes(error, attempt, delay)))
        span.set_attribute(RETRIES_ATTRIBUTE, attempt + 1)
    return delay


def _finalize(*args: Any, **kwargs: Any) -> Any:
    """Mark on the LLM span the model that answered, and a cached answer (only when the cache is
    on: otherwise nothing can hit)."""
    try:
        _mark_result(*args, **kwargs)
    except Exception:
        _warn_once("behave differently")
    return _originals["finalize"](*args, **kwargs)


def _mark_result(lm: Any, call: Any, result: Any) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    response_model = getattr(result, "response_model", None)
    if isinstance(response_model, str) and response_model:
        span.set_attribute(RESPONSE_MODEL_ATTRIBUTE, response_model)
    if getattr(call, "cache", False):
        span.set_attribute(CACHE_HIT_ATTRIBUTE, bool(getattr(result, "cache_hit", False)))


def install(max_delay_s: float = 20.0) -> bool:
    """Wrap DSPy's retry delay and result finalization; later calls only update the cap.
    False (and one warning) when DSPy no longer has them."""
    global _max_delay_s
    with _lock:
        _max_delay_s = max_delay_s
        if _originals:
            return True
        try:
            from dspy.clients import execution

            delay, finalize = execution._delay, execution.finalize
        except (ImportError, AttributeError):
            _warn_once("are gone")
            return False
        if not (callable(delay) and callable(finalize)):
            _warn_once("are not functions")
            return False
        _originals["_delay"], _originals["finalize"] = delay, finalize
        execution._delay = _bounded_delay
        execution.finalize = _finalize
        return True


def uninstall() -> None:
    """Put DSPy's own functions back."""
    with _lock:
        if _originals:
            from dspy.clients import execution

            for name, original in _originals.items():
                setattr(execution, name, original)
            _originals.clear()


def installed() -> bool:
    return bool(_originals)
