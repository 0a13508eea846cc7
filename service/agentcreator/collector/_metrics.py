"""The collector's own metric names, as a real ADOT build was seen to expose them (collector/adot-metrics.txt).

The alarms may only read names listed here, and every name marked `loss` must be alarmed; the
opt-in `pytest -m adot` run checks the list against the real collector's telemetry endpoint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcreator.collector._listing import read_listing

if TYPE_CHECKING:
    from pathlib import Path

_WHEN = ("start", "traffic", "after-first")


@dataclass(frozen=True)
class AdotMetrics:
    version: str
    names: frozenset[str]
    at_start: frozenset[str]  # present from the first scrape
    with_traffic: frozenset[str]  # present once spans have passed through
    losses: frozenset[str]  # counts spans the collector loses or refuses


@functools.lru_cache(maxsize=4)
def load_metrics(path: Path) -> AdotMetrics:
    """Parse `version vX.Y.Z` and `metric NAME start|traffic|after-first [loss]` lines; anything else is an error."""
    version, entries = read_listing(path)
    names: set[str] = set()
    when: dict[str, set[str]] = {kind: set() for kind in _WHEN}
    losses: set[str] = set()
    for number, words in entries:
        if words[0] == "metric" and len(words) in (3, 4) and words[2] in _WHEN and words[3:] in ([], ["loss"]):
            names.add(words[1])
            when[words[2]].add(words[1])
            if words[3:]:
                losses.add(words[1])
        else:
            raise ValueError(f"{path}:{number}: expected 'version vX.Y.Z' or 'metric NAME {'|'.join(_WHEN)} [loss]'")
    return AdotMetrics(version, frozenset(names), frozenset(when["start"]), frozenset(when["traffic"]),
                       frozenset(losses))
