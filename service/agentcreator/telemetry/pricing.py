"""USD prices of LLM calls, from LiteLLM's bundled model cost map: a maintained source, read offline.

LiteLLM ships its price map inside the package (the file ``LITELLM_LOCAL_MODEL_COST_MAP=True``
makes it load); we read that file directly, without importing LiteLLM (seconds) and without
the network. A model the map does not know gets no price (and one warning), never a guessed
one. Bedrock's cross-region inference profiles (``us.amazon.nova-pro-v1:0``) price like their
base model unless the map lists the profile itself.

    price = price_of("bedrock/us.amazon.nova-pro-v1:0")
    price.cost(input_tokens=1000, output_tokens=200)  # 0.00144
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)
BUNDLED_MAP = "model_prices_and_context_window_backup.json"  # beside litellm/__init__.py
# LiteLLM's routing prefixes, in front of a provider's model id
_ROUTES = ("bedrock/", "bedrock_converse/", "converse/", "invoke/")
# Bedrock cross-region inference profile prefixes: "us.amazon.nova-pro-v1:0" runs amazon.nova-pro-v1:0
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca.")


@dataclass(frozen=True)
class Price:
    """USD per token, and the entry of the map that gave it."""

    input_per_token: float
    output_per_token: float
    entry: str

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens * self.input_per_token + output_tokens * self.output_per_token


class _State:
    lock = threading.Lock()
    table: dict[str, Any] | None = None
    prices: dict[str, Price | None] = {}
    warned: set[str] = set()


def _bundled_map() -> dict[str, Any] | None:
    """The JSON file inside the installed LiteLLM package, found without importing it."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / BUNDLED_MAP
    try:
        import orjson

        table = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) else None


def _public_map() -> dict[str, Any]:
    """LiteLLM's own ``model_cost``, with the local map forced: the public path, slower to import."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        return {}
    return dict(getattr(litellm, "model_cost", None) or {})


def _table() -> dict[str, Any]:
    table = _State.table
    if table is None:
        with _State.lock:
            table = _State.table
            if table is None:
                table = _bundled_map()
                if table is None:
                    _log.warning("LiteLLM's bundled %s was not found: prices come from litellm.model_cost",
                                 BUNDLED_MAP)
                    table = _public_map()
                _State.table = table
    return table


def load() -> int:
    """Read the map now (about 0.1 s, once), off the request path; returns how many entries it has."""
    return len(_table())


def _candidates(model: str) -> list[str]:
    """``model`` as given, without LiteLLM's routing prefixes, without a region path, then the
    base model of a cross-region inference profile."""
    names = [model]
    name = model
    while name.startswith(_ROUTES):
        name = name.split("/", 1)[1]
        names.append(name)
    if "/" in name:  # bedrock/us-east-1/<id>: a region in the route
        name = name.rsplit("/", 1)[1]
        names.append(name)
    for prefix in _PROFILE_PREFIXES:
        if name.startswith(prefix):
            names.append(name[len(prefix):])
            break
    return names


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _lookup(model: str) -> Price | None:
    table = _table()
    for name in _candidates(model):
        entry = table.get(name)
        if not isinstance(entry, dict):
            continue
        input_price, output_price = _number(entry.get("input_cost_per_token")), _number(
            entry.get("output_cost_per_token"))
        if input_price is not None and output_price is not None:
            return Price(input_price, output_price, name)
    return None


def price_of(model: str) -> Price | None:
    """The price of ``model`` (a LiteLLM model string or a provider's id), or None, with one
    warning per model, when the map does not know it."""
    if model in _State.prices:
        return _State.prices[model]
    price = _lookup(model)
    _State.prices[model] = price
    if price is None and model not in _State.warned:
        _State.warned.add(model)
        _log.warning("no price for %r in LiteLLM's model cost map: its LLM spans carry no gen_ai.usage.cost",
                     model)
    return price


def reset() -> None:
    """Forget the map and the warnings (tests)."""
    with _State.lock:
        _State.table = None
        _State.prices = {}
        _State.warned = set()
