"""Instrumentation cost per LLM call: no tracing vs openinference alone vs our full telemetry.

The pipeline runs with the offline LM at zero latency, both loops at their limits (23 LLM calls
an invocation) and 10+ KB prompts, checked (with an empty SOP's 1-3 KB prompts the untraced
pipeline read 0.63 against 1.07 ms per LLM call, and the overhead 0.36 against 0.42-0.52), in
warm worker processes, in turns. Each variant has ``PROCESSES`` of them and round r uses the
r-th of each (modulo): one process's speed depends on its hash seed and memory layout, and two
processes of one variant differed by 0.19 ms per LLM call (about a fifth of the figure) in an
A/A run, which no number of rounds in one process averages out. Part of that is the hash seed
(0.03-0.05 ms apart with one seed), so the i-th process of every variant shares a seed, drawn
afresh each run.
Each turn's wall time includes flushing its spans to a local OTLP sink, so export work is
counted, not deferred past the measurement. Per-call cost is the paired difference of one
round's turns divided by the round's LLM calls; figures are medians over rounds. CPU time
(all threads of the worker) is reported beside wall time: on a shared machine it is the
steadier of the two.

``full-allspans`` is our telemetry with every openinference span (as before the lean
instrumentor), kept to show what that change saves; ``full-noexport`` is our telemetry with no
OTLP exporter, which splits the cost into making spans and exporting them; ``full-nometrics`` is
our telemetry without the app's metrics, so ``full`` minus it is what the metrics cost (recorded
on the request path, exported over OTLP at the end of each turn like the spans).
"""

from __future__ import annotations

import argparse
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import ROOT, Worker, log, median
from benchmarks.sink import QuietSink
from benchmarks.worker import VARIANTS as WORKER_VARIANTS

if TYPE_CHECKING:
    from collections.abc import Sequence

LM = "offline:plan_rejections=4,code_rejections=3"
VARIANTS = ("none", "openinference", "full", "full-allspans", "full-noexport", "full-nometrics")
ROUNDS = 30
COMPARE_ROUNDS = 45
PROCESSES = 3
INVOCATIONS_PER_TURN = 2
MIN_PROMPT_BYTES = 8 * 1024  # common.bench_sop's promise; smaller prompts make every figure smaller


def _per_call(turns: list[dict[str, Any]], key: str, variant: str, base: str) -> list[float]:
    """Per round: (variant − base) in ms per LLM call."""
    return [(t[variant][key] - t[base][key]) / t[variant]["llm_calls"] * 1000 for t in turns]


def _cost(turns: list[dict[str, Any]], variant: str, base: str, key: str = "elapsed_s") -> float:
    """The median over rounds of (variant − base), in ms per LLM call."""
    return median(_per_call(turns, key, variant, base))


def _untraced_ms(turns: list[dict[str, Any]]) -> float:
    """The untraced pipeline's own ms per LLM call: the machine's speed during the run."""
    return round(median([t["none"]["elapsed_s"] / t["none"]["llm_calls"] * 1000 for t in turns]), 3)


def _split(spec: str) -> tuple[str, Path | None]:
    """A variant, or ``variant@CHECKOUT``: that variant of another checkout's code."""
    variant, _, checkout = spec.partition("@")
    return variant, Path(checkout) if checkout else None


def _worker(spec: str, endpoint: str, seed: int) -> Worker:
    """The worker for ``spec`` (``_split``): another checkout is ``Worker``'s ``root``."""
    variant, checkout = _split(spec)
    return Worker(variant, endpoint=endpoint, env={"PYTHONHASHSEED": str(seed)},
                  root=checkout.resolve() if checkout else ROOT)


def _start(endpoint: str, seeds: list[int], variants: Sequence[str] = VARIANTS) -> dict[str, list[Worker]]:
    """Every variant's worker processes, started side by side (each imports DSPy: ~3 s of CPU);
    the i-th of each runs with hash seed ``seeds[i]``."""
    with ThreadPoolExecutor(max_workers=len(variants) * len(seeds)) as pool:
        futures = {spec: [pool.submit(_worker, spec, endpoint, seed) for seed in seeds] for spec in variants}
        workers: dict[str, list[Worker]] = {}
        failure: BaseException | None = None
        for name, started in futures.items():
            for future in started:
                try:
                    workers.setdefault(name, []).append(future.result())
                except Exception as error:  # stop the ones that did start, then fail
                    failure = error
    if failure is not None:
        _close(workers)
        raise failure
    return workers


def _close(workers: dict[str, list[Worker]]) -> None:
    for started in workers.values():
        for worker in started:
            worker.close()


def _rounds(workers: dict[str, list[Worker]], variants: Sequence[str], rounds: int) -> list[dict[str, Any]]:
    """``rounds`` turns of every variant, the order rotating each round, round r on the r-th process."""
    turns: list[dict[str, Any]] = []
    for index in range(rounds):
        order = [*variants[index % len(variants):], *variants[:index % len(variants)]]
        turns.append({spec: workers[spec][index % len(workers[spec])].call(
            cmd="run", n=INVOCATIONS_PER_TURN, lm=LM) for spec in order})
    log(f"overhead: {rounds} rounds of {len(variants)} variants in {len(workers[variants[0]])} processes each done")
    return turns


def main(rounds: int = ROUNDS, processes: int = PROCESSES) -> dict[str, Any]:
    seeds = [random.randrange(1, 2**32) for _ in range(processes)]
    with QuietSink() as sink:
        workers = _start(sink.endpoint, seeds)
        try:
            turns = _rounds(workers, VARIANTS, rounds)
            # after the rounds: ``stats`` leaves a span processor that records every span in its worker
            stats = workers["full"][0].call(cmd="stats", lm=LM)
            before = workers["full-allspans"][0].call(cmd="stats", lm=LM)
        finally:
            _close(workers)
    if stats["prompt_bytes_min"] < MIN_PROMPT_BYTES:
        raise RuntimeError(f"the smallest LLM prompt was {stats['prompt_bytes_min']} bytes, under the "
                           f"{MIN_PROMPT_BYTES} the benchmark is built for: its figures would describe "
                           "another workload")

    def cost(variant: str, key: str) -> float:
        return _cost(turns, variant, "none", key)

    full, oi = cost("full", "elapsed_s"), cost("openinference", "elapsed_s")
    allspans = cost("full-allspans", "elapsed_s")
    full_cpu, oi_cpu = cost("full", "cpu_s"), cost("openinference", "cpu_s")
    making_cpu = cost("full-noexport", "cpu_s")
    without_metrics, without_metrics_cpu = cost("full-nometrics", "elapsed_s"), cost("full-nometrics", "cpu_s")
    allspans_cpu = cost("full-allspans", "cpu_s")
    by_process = [_cost(turns[index::processes], "full", "none") for index in range(processes)]
    calls = turns[0]["none"]["llm_calls"]
    return {
        "overhead_ms_per_llm_call": round(full, 3),
        "overhead_ratio_vs_openinference": round(full / oi, 3) if oi > 0 else None,
        "overhead_cpu_ms_per_llm_call": round(full_cpu, 3),
        "overhead_cpu_ratio_vs_openinference": round(full_cpu / oi_cpu, 3) if oi_cpu > 0 else None,
        "making_spans_cpu_ms_per_llm_call": round(making_cpu, 3),
        "exporting_spans_cpu_ms_per_llm_call": round(full_cpu - making_cpu, 3),
        "metrics_ms_per_llm_call": round(full - without_metrics, 3),
        "metrics_cpu_ms_per_llm_call": round(full_cpu - without_metrics_cpu, 3),
        "overhead_ms_per_llm_call_without_metrics": round(without_metrics, 3),
        "openinference_ms_per_llm_call": round(oi, 3),
        "openinference_cpu_ms_per_llm_call": round(oi_cpu, 3),
        "all_spans_ms_per_llm_call": round(allspans, 3),
        "all_spans_cpu_ms_per_llm_call": round(allspans_cpu, 3),
        "wall_ratio_full_vs_openinference": round(
            median([t["full"]["elapsed_s"] / t["openinference"]["elapsed_s"] for t in turns]), 3),
        "untraced_ms_per_llm_call": _untraced_ms(turns),
        "overhead_ms_per_llm_call_by_process": [round(value, 3) for value in by_process],
        "processes_per_variant": processes,
        "hash_seeds": seeds,
        "llm_calls_per_turn": calls,
        "rounds": rounds,
        "spans_per_invocation": stats["spans"],
        "spans_per_invocation_all_spans": before["spans"],
        "prompt_bytes_min": stats["prompt_bytes_min"],
        "prompt_bytes_mean": round(stats["prompt_bytes_mean"]),
        "sink_requests": sink.requests,
    }


def compare(variants: Sequence[str], rounds: int = COMPARE_ROUNDS, processes: int = PROCESSES) -> dict[str, Any]:
    """For a change to the code or its settings: ``none`` and each of ``variants`` measured as the
    benchmark measures (interleaved turns, shared hash seeds), each one's cost per LLM call over
    ``none``, and each one paired against the first. Their noise is ~0.02 ms per LLM call at 45
    rounds; figures from separate runs differ by more than that as the machine's speed moves."""
    specs = ["none", *(spec for spec in variants if spec != "none")]
    seeds = [random.randrange(1, 2**32) for _ in range(processes)]
    with QuietSink() as sink:
        workers = _start(sink.endpoint, seeds, specs)
        try:
            turns = _rounds(workers, specs, rounds)
        finally:
            _close(workers)

    def cost(spec: str, base: str, key: str = "elapsed_s") -> float:
        return round(_cost(turns, spec, base, key), 3)

    result: dict[str, Any] = {
        "untraced_ms_per_llm_call": _untraced_ms(turns),
        "ms_per_llm_call_over_none": {spec: cost(spec, "none") for spec in specs[1:]},
        "cpu_ms_per_llm_call_over_none": {spec: cost(spec, "none", "cpu_s") for spec in specs[1:]},
    }
    if len(specs) > 2:  # with one variant there is nothing to pair it against but none
        result[f"ms_per_llm_call_over_{specs[1]}"] = {spec: cost(spec, specs[1]) for spec in specs[2:]}
    return result | {"rounds": rounds, "processes_per_variant": processes, "hash_seeds": seeds}


def _spec(text: str) -> str:
    """``--compare``'s one entry, checked: a known variant, and an existing checkout after ``@``."""
    variant, checkout = _split(text)
    if variant not in WORKER_VARIANTS:
        raise argparse.ArgumentTypeError(f"unknown variant {variant!r}; known: {', '.join(WORKER_VARIANTS)}")
    if checkout and not (checkout / "benchmarks" / "worker.py").is_file():
        raise argparse.ArgumentTypeError(f"{checkout!r} is not a checkout of this project (no benchmarks/worker.py)")
    return text


if __name__ == "__main__":
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compare", metavar="VARIANT", nargs="+", type=_spec,
                        help="instead of the benchmark's own set, measure these against none and the first "
                             "of them, paired; VARIANT@CHECKOUT runs that variant of another checkout's code")
    parser.add_argument("--rounds", type=int, help=f"default {ROUNDS}, or {COMPARE_ROUNDS} with --compare")
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.compare:
        result = compare(args.compare, args.rounds or COMPARE_ROUNDS)
    else:
        result = main(args.rounds or ROUNDS)
    print(json.dumps(result, indent=2))
