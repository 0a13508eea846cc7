"""The values the infra gives the collector container, checked before a task can start with them.

The collector expands an unset `${env:NAME}` to an empty string and a bad number to whatever
YAML makes of it (a latency threshold of 0 keeps every trace), so the values are checked here,
at render time, one problem per line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

_MIB = 1024 * 1024
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _number(kind: Callable[[str], float], low: float, high: float | None = None) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = kind(value)
        except ValueError:
            return f"{value!r} is not a{'n integer' if kind is int else ' number'}"
        if number < low or (high is not None and number > high):
            bounds = f"in [{low:g}, {high:g}]" if high is not None else f">= {int(low) if kind is int else low}"
            return f"{value!r} must be {bounds}"
        return None

    return check


def _url(suffix: str = "") -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not _URL.match(value) or not value.endswith(suffix):
            return f"{value!r} is not an http(s) URL" + (f" ending in {suffix}" if suffix else "")
        return None

    return check


def _named(value: str) -> str | None:
    return None if _NAME.match(value) else f"{value!r} must be 1-63 letters, digits, '.', '_' or '-'"


def _present(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "COLLECTOR_MEMORY_LIMIT_MIB": _number(int, 32),
    "COLLECTOR_MEMORY_SPIKE_MIB": _number(int, 1),
    "COLLECTOR_QUEUE_BYTES": _number(int, _MIB),
    "SAMPLING_PERCENTAGE": _number(float, 0, 100),
    # 0 would make the latency policy keep every trace: never what "keep slow traces" means.
    "SAMPLING_LATENCY_THRESHOLD_MS": _number(int, 1),
    "LANGFUSE_OTLP_ENDPOINT": _url(),
    "XRAY_OTLP_TRACES_ENDPOINT": _url("/v1/traces"),
    "ENVIRONMENT": _named,
    "SERVICE_NAME": _named,
    "AWS_REGION": _present,
}


def check_values(values: Mapping[str, str], *, required: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Problems with the container's values, one line each; [] when every value is usable.

    ``required`` names the variables the rendered config references; each must be in ``values``.
    Values the infra leaves to CloudFormation (a region token) are checked for presence only.
    """
    return list(_problems(values, required))


def _problems(values: Mapping[str, str], required: set[str] | frozenset[str]) -> Iterator[str]:
    for name in sorted(set(required) - set(values)):
        yield f"{name}: the config expands ${{env:{name}}} but no value is provided"
    for name, value in sorted(values.items()):
        check = _CHECKS.get(name)
        if check is None:
            yield f"{name}: not a variable the collector config uses"
            continue
        if "${Token[" in value:  # resolved by CloudFormation at deploy time
            continue
        problem = check(value)
        if problem:
            yield f"{name}: {problem}"
    limit, spike = values.get("COLLECTOR_MEMORY_LIMIT_MIB", ""), values.get("COLLECTOR_MEMORY_SPIKE_MIB", "")
    if limit.isdigit() and spike.isdigit() and int(spike) >= int(limit):
        yield f"COLLECTOR_MEMORY_SPIKE_MIB: {spike} must be below COLLECTOR_MEMORY_LIMIT_MIB ({limit})"
