"""Resident memory with full telemetry minus without, after 200 invocations.

Two warm worker processes (no tracing; full telemetry exporting to a local OTLP sink) run
the same 200 invocations (10+ KB SOP, offline LM at zero latency) in alternating chunks;
RSS is read from /proc after the spans are flushed. The growth of each over its run is
reported too: a leak shows there, however small the start-up difference. The target figure is
RSS as the OS sees it; ``rss_delta_trimmed_mb`` is the same after a full collection and glibc's
``malloc_trim`` — what is live rather than what the allocator keeps — to tell retention from
fragmentation (each thread that allocates, like the exporter's, gets a glibc arena of its own).

``outage_large_inputs`` runs two full-telemetry workers whose collector never answers, with SOPs
of the largest size the API takes (200 KB): one with the span queue's default memory bound
(``AGENTCREATOR_SPAN_QUEUE_MIB``, 4 MiB), one bounded only by its 512 spans, as the SDK's queue
is. The bound applies once an export has hung for a second (or failed), so each worker's first
export is left hanging that long before the run. Their RSS growth over the run is what a
collector outage costs a process with such inputs.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.dead_endpoints import black_hole

from agentcreator.pipeline.limits import MAX_SOP_BYTES
from benchmarks.common import Worker, log
from benchmarks.sink import QuietSink

INVOCATIONS = 200
CHUNK = 20
LM = "offline:plan_rejections=1,code_rejections=1"


def _alternating_runs(workers: dict[str, Worker], invocations: int, chunk: int, **options: Any) -> dict[str, Any]:
    """``invocations`` in each worker, ``chunk`` at a time, the order reversed every other chunk so
    that neither always runs second; each worker's last answer."""
    last: dict[str, Any] = {}
    for done in range(0, invocations, chunk):
        for name, worker in workers.items() if done % (2 * chunk) == 0 else reversed(workers.items()):
            last[name] = worker.call(cmd="run", n=min(chunk, invocations - done), lm=LM, **options)
    return last


def main(invocations: int = INVOCATIONS) -> dict[str, Any]:
    with QuietSink() as sink, Worker("none") as none, Worker("full", endpoint=sink.endpoint) as full:
        start = {"none": none.ready["rss_mb"], "full": full.ready["rss_mb"]}
        last = _alternating_runs({"none": none, "full": full}, invocations, CHUNK)
        trimmed = {"none": none.call(cmd="trim")["rss_mb"], "full": full.call(cmd="trim")["rss_mb"]}
        log(f"memory: {invocations} invocations per variant done")
    delta = last["full"]["rss_mb"] - last["none"]["rss_mb"]
    large = outage_large_inputs()
    growth = {name: last[name]["rss_mb"] - start[name] for name in start}
    return {
        "rss_delta_mb": round(delta, 1),
        "rss_untraced_mb": round(last["none"]["rss_mb"], 1),
        "rss_full_mb": round(last["full"]["rss_mb"], 1),
        "rss_delta_trimmed_mb": round(trimmed["full"] - trimmed["none"], 1),
        "rss_growth_untraced_mb": round(growth["none"], 1),
        "rss_growth_full_mb": round(growth["full"], 1),
        "memory_invocations": invocations,
        **large,
    }


OUTAGE_INVOCATIONS = 30
OUTAGE_CHUNK = 5
OUTAGE_STALL_S = 1.5


def outage_large_inputs(invocations: int = OUTAGE_INVOCATIONS) -> dict[str, Any]:
    spans_only = {"AGENTCREATOR_SPAN_QUEUE_MIB": str(1 << 20)}  # a bound no queue of 512 spans reaches
    with black_hole() as hole, Worker("full", endpoint=hole) as bounded, \
            Worker("full", endpoint=hole, env=spans_only) as unbounded:
        workers = {"bytes": bounded, "spans": unbounded}
        for worker in workers.values():
            worker.call(cmd="use_sop", max_bytes=MAX_SOP_BYTES)
            worker.call(cmd="run", n=2, lm=LM, flush=False)  # a batch's worth: an export starts, and hangs
        time.sleep(OUTAGE_STALL_S)  # past the second after which a hung export bounds the queue in bytes
        last = _alternating_runs(workers, invocations, OUTAGE_CHUNK, flush=False)
        growth = {name: last[name]["rss_mb"] - worker.ready["rss_mb"] for name, worker in workers.items()}
        log(f"memory: {invocations} invocations with {MAX_SOP_BYTES // 1024} KB SOPs, collector black-holed "
            "(as they exit, its two workers report the spans they could not send)")
    return {
        "outage_large_input_growth_mb": round(growth["bytes"], 1),
        "outage_large_input_growth_spans_only_mb": round(growth["spans"], 1),
        "outage_large_input_invocations": invocations,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
