"""Resident memory with full telemetry minus without, after 200 invocations.

Two warm worker processes (no tracing; full telemetry exporting to a local OTLP sink) run
the same 200 invocations (10+ KB SOP, offline LM at zero latency) in alternating chunks;
RSS is read from /proc after the spans are flushed. The growth of each over its run is
reported too: a leak shows there, however small the start-up difference. The target figure is
RSS as the OS sees it; ``rss_delta_trimmed_mb`` is the same after a full collection and glibc's
``malloc_trim`` — what is live rather than what the allocator keeps — to tell retention from
fragmentation (each thread that allocates, like the exporter's, gets a glibc arena of its own).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Worker, log
from benchmarks.sink import QuietSink

INVOCATIONS = 200
CHUNK = 20
LM = "offline:plan_rejections=1,code_rejections=1"


def main(invocations: int = INVOCATIONS) -> dict[str, Any]:
    with QuietSink() as sink, Worker("none") as none, Worker("full", endpoint=sink.endpoint) as full:
        start = {"none": none.ready["rss_mb"], "full": full.ready["rss_mb"]}
        last: dict[str, dict[str, Any]] = {}
        for done in range(0, invocations, CHUNK):
            for name, worker in (("none", none), ("full", full)) if done % (2 * CHUNK) == 0 else (
                    ("full", full), ("none", none)):
                last[name] = worker.call(cmd="run", n=min(CHUNK, invocations - done), lm=LM)
        trimmed = {"none": none.call(cmd="trim")["rss_mb"], "full": full.call(cmd="trim")["rss_mb"]}
        log(f"memory: {invocations} invocations per variant done")
    delta = last["full"]["rss_mb"] - last["none"]["rss_mb"]
    growth = {name: last[name]["rss_mb"] - start[name] for name in start}
    return {
        "rss_delta_mb": round(delta, 1),
        "rss_untraced_mb": round(last["none"]["rss_mb"], 1),
        "rss_full_mb": round(last["full"]["rss_mb"], 1),
        "rss_delta_trimmed_mb": round(trimmed["full"] - trimmed["none"], 1),
        "rss_growth_untraced_mb": round(growth["none"], 1),
        "rss_growth_full_mb": round(growth["full"], 1),
        "memory_invocations": invocations,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
