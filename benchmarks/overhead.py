"""Instrumentation cost per LLM call: no tracing vs openinference alone vs our full telemetry.

The pipeline runs with the offline LM at zero latency, both loops at their limits (23 LLM
calls an invocation) and 10+ KB prompts, in one warm worker process per variant, in turns.
Each turn's wall time includes flushing its spans to a local OTLP sink, so export work is
counted, not deferred past the measurement. Per-call cost is the paired difference of one
round's turns divided by the round's LLM calls; figures are medians over rounds. CPU time
(all threads of the worker) is reported beside wall time: on a shared machine it is the
steadier of the two.

``full-allspans`` is our telemetry with every openinference span (as before the lean
instrumentor), kept to show what that change saves; ``full-noexport`` is our telemetry with no
OTLP exporter, which splits the cost into making spans and exporting them.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Worker, log, median
from benchmarks.sink import QuietSink

LM = "offline:plan_rejections=4,code_rejections=3"
VARIANTS = ("none", "openinference", "full", "full-allspans", "full-noexport")
ROUNDS = 15
INVOCATIONS_PER_TURN = 2


def _per_call(turns: list[dict[str, Any]], key: str, variant: str, base: str) -> list[float]:
    """Per round: (variant − base) in ms per LLM call."""
    return [(t[variant][key] - t[base][key]) / t[variant]["llm_calls"] * 1000 for t in turns]


def main(rounds: int = ROUNDS) -> dict[str, Any]:
    with QuietSink() as sink:
        workers = {name: Worker(name, endpoint=sink.endpoint) for name in VARIANTS}
        try:
            stats = workers["full"].call(cmd="stats", lm=LM)
            before = workers["full-allspans"].call(cmd="stats", lm=LM)
            turns: list[dict[str, Any]] = []
            for index in range(rounds):
                order = VARIANTS[index % len(VARIANTS):] + VARIANTS[:index % len(VARIANTS)]
                turns.append({name: workers[name].call(cmd="run", n=INVOCATIONS_PER_TURN, lm=LM) for name in order})
            log(f"overhead: {rounds} rounds of {len(VARIANTS)} variants done")
        finally:
            for worker in workers.values():
                worker.close()

    def cost(variant: str, key: str) -> float:
        return median(_per_call(turns, key, variant, "none"))

    full, oi = cost("full", "elapsed_s"), cost("openinference", "elapsed_s")
    allspans = cost("full-allspans", "elapsed_s")
    full_cpu, oi_cpu = cost("full", "cpu_s"), cost("openinference", "cpu_s")
    making_cpu = cost("full-noexport", "cpu_s")
    allspans_cpu = cost("full-allspans", "cpu_s")
    calls = turns[0]["none"]["llm_calls"]
    none_ms = median([t["none"]["elapsed_s"] / calls * 1000 for t in turns])
    return {
        "overhead_ms_per_llm_call": round(full, 3),
        "overhead_ratio_vs_openinference": round(full / oi, 3) if oi > 0 else None,
        "overhead_cpu_ms_per_llm_call": round(full_cpu, 3),
        "overhead_cpu_ratio_vs_openinference": round(full_cpu / oi_cpu, 3) if oi_cpu > 0 else None,
        "making_spans_cpu_ms_per_llm_call": round(making_cpu, 3),
        "exporting_spans_cpu_ms_per_llm_call": round(full_cpu - making_cpu, 3),
        "openinference_ms_per_llm_call": round(oi, 3),
        "openinference_cpu_ms_per_llm_call": round(oi_cpu, 3),
        "all_spans_ms_per_llm_call": round(allspans, 3),
        "all_spans_cpu_ms_per_llm_call": round(allspans_cpu, 3),
        "wall_ratio_full_vs_openinference": round(
            median([t["full"]["elapsed_s"] / t["openinference"]["elapsed_s"] for t in turns]), 3),
        "untraced_ms_per_llm_call": round(none_ms, 3),
        "llm_calls_per_turn": calls,
        "rounds": rounds,
        "spans_per_invocation": stats["spans"],
        "spans_per_invocation_all_spans": before["spans"],
        "prompt_bytes_min": stats["prompt_bytes_min"],
        "prompt_bytes_mean": round(stats["prompt_bytes_mean"]),
        "sink_requests": sink.requests,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
