"""DSPy's chat formatting, with the parts that depend only on a signature built once per signature.

DSPy 3.4 rebuilds a signature's system message on every LM call (each field's type rendered
through a pydantic ``TypeAdapter``), and ``ReAct`` builds a new ``Signature`` class from a
string (``ast.parse``, pydantic ``create_model``) to format its trajectory on every step. Neither
changes between calls, and rebuilding them was a large share of a loaded server's CPU (figures
in docs/engineering-notes.md). The messages the LM gets are the same, character for character:
a test compares whole runs with DSPy's own classes.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

import dspy


class CachingChatAdapter(dspy.ChatAdapter):
    """DSPy's ChatAdapter; each signature's system message is built once. A signature class is
    not changed in use (``with_instructions`` and the like make new classes), so the class is
    the key, held weakly: signatures made on the fly are not kept alive by the cache."""

    _system_messages: weakref.WeakKeyDictionary[type, dict[type, str]] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        with self._lock:
            message = self._system_messages.get(signature, {}).get(type(self))
        if message is None:
            message = super().format_system_message(signature)
            with self._lock:
                self._system_messages.setdefault(signature, {})[type(self)] = message
        return message


@functools.lru_cache(maxsize=256)
def _trajectory_signature(keys: tuple[str, ...]) -> type[dspy.Signature]:
    return dspy.Signature(f"{', '.join(keys)} -> x")


class CachedTrajectoryReAct(dspy.ReAct):
    """DSPy's ReAct; the signature that formats its trajectory is built once per set of keys
    (thought_0, tool_name_0, ...), not on every step. Same text as ``ReAct._format_trajectory``."""

    def _format_trajectory(self, trajectory: dict[str, Any]) -> str:
        adapter = dspy.settings.adapter or dspy.ChatAdapter()
        return adapter.format_user_message_content(_trajectory_signature(tuple(trajectory)), trajectory)
