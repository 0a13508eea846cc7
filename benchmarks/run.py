"""``make bench``: run every benchmark, print the figures against their targets, write results.json.

Every figure is a ratio or difference of variants measured side by side in this run; targets
are judged here, never asserted in tests (they would be flaky on shared machines). Exits 0
when every script produced its figures, whether or not the targets hold.
"""

from __future__ import annotations

import json
import operator
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import cold_start, critical_path, load, memory, overhead, sandbox
from benchmarks.common import log, machine

RESULTS = Path(__file__).with_name("results.json")
SCRIPTS = (("cold_start", cold_start.main), ("overhead", overhead.main), ("memory", memory.main),
           ("critical_path", critical_path.main), ("load", load.main), ("sandbox", sandbox.main))
# key: (comparison, bound, unit, what it means)
TARGETS: dict[str, tuple[str, float, str, str]] = {
    "overhead_ms_per_llm_call": ("<=", 0.5, "ms", "full telemetry, added wall time per LLM call over no tracing"),
    "overhead_ratio_vs_openinference": ("<=", 1.10, "×", "full telemetry's cost / openinference alone's cost"),
    "rss_delta_mb": ("<=", 10.0, "MB", "RSS with full telemetry minus without, after 200 invocations"),
    "critical_path_ratio": ("<=", 1.05, "×", "worst-case wall time / LM latency on the critical path"),
    "llm_round_trips_worst_case": ("<", 23, "", "sequential LLM round trips, worst case (all stages in sequence: 23)"),
    "concurrency_throughput_ratio": (">=", 0.9, "×", "throughput at 64 clients / (64 × at 1)"),
    "p99_latency_ratio": ("<=", 1.1, "×", "p99 latency at 64 clients / p50 at 1"),
    "outage_p99_ratio": ("<=", 1.05, "×", "p99 at 64 clients, collector black-holed / healthy"),
    "outage_rss_delta_mb": ("<=", 10.0, "MB", "server RSS (all its processes), collector black-holed minus healthy"),
    "outage_failed_requests": ("==", 0, "", "failed requests while the collector is black-holed"),
    "cold_start_s": ("<=", 3.0, "s", "process start to first 200 from /ping"),
}
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, "==": operator.eq}


def _run_script(name: str, main: Any) -> dict[str, Any]:
    for attempt in (1, 2):  # one retry: a shared machine can fail a start-up by timeout
        started = time.monotonic()
        log(f"{name}: start (attempt {attempt})")
        try:
            figures = main()
        except Exception:
            traceback.print_exc()
            continue
        figures["seconds"] = round(time.monotonic() - started, 1)
        return figures
    return {"error": f"{name} failed twice; see the traceback above"}


def judge(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    verdicts = {}
    for key, (op, bound, unit, meaning) in TARGETS.items():
        value = figures.get(key)
        ok = value is not None and _OPS[op](value, bound)
        verdicts[key] = {"value": value, "target": f"{op} {bound}{unit and ' ' + unit}", "pass": ok,
                         "meaning": meaning}
    return verdicts


def table(verdicts: dict[str, dict[str, Any]]) -> str:
    rows = [("figure", "value", "target", "result")]
    rows += [(key, str(v["value"]), v["target"], "PASS" if v["pass"] else "FAIL") for key, v in verdicts.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    details = {name: _run_script(name, script) for name, script in SCRIPTS}
    figures: dict[str, Any] = {}
    for result in details.values():
        figures.update({k: v for k, v in result.items() if k in TARGETS})
    verdicts = judge(figures)
    results = {
        **{key: figures.get(key) for key in TARGETS},
        "machine": machine(),
        "targets": verdicts,
        "details": details,
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print(f"\nAgentCreator benchmarks — {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, {m['date']}")
    print(table(verdicts))
    overhead_split = details.get("overhead", {})
    print()
    if "untraced_ms_per_llm_call" in overhead_split:
        print(f"untraced pipeline: {overhead_split['untraced_ms_per_llm_call']} ms per LLM call: the machine's "
              "speed during this run; compare the overhead only between runs where this agrees")
    if "making_spans_cpu_ms_per_llm_call" in overhead_split:
        making = overhead_split["making_spans_cpu_ms_per_llm_call"]
        exporting = overhead_split["exporting_spans_cpu_ms_per_llm_call"]
        print(f"overhead, CPU per LLM call: making the spans {making} ms, exporting them (and the metrics) "
              f"{exporting} ms")
        if "metrics_ms_per_llm_call" in overhead_split:
            print(f"the app's metrics, per LLM call: {overhead_split['metrics_ms_per_llm_call']} ms wall, "
                  f"{overhead_split['metrics_cpu_ms_per_llm_call']} ms CPU (full telemetry minus full without them)")
    if "sandbox_run_ms" in details.get("sandbox", {}):
        box = details["sandbox"]
        print(f"sandbox, per run of the tool code: {box['sandbox_run_ms']} ms forked, "
              f"{box['sandbox_direct_run_ms']} ms started anew; confinement {box['sandbox_confine_ms']} ms "
              f"({box['sandbox_isolation']})")
    if "rss_delta_trimmed_mb" in details.get("memory", {}):
        print(f"memory, after gc and malloc_trim: {details['memory']['rss_delta_trimmed_mb']} MB")
    if "healthy_dropped_spans" in details.get("load", {}):
        load = details["load"]
        print(f"spans dropped under load: {load['healthy_dropped_spans']} with the collector up (must be 0), "
              f"{load['outage_dropped_spans']} black-holed")
    if "outage_large_input_growth_mb" in details.get("memory", {}):
        big = details["memory"]
        print(f"collector black-holed, 200 KB SOPs: RSS grew {big['outage_large_input_growth_mb']} MB with the span "
              f"queue's 4 MiB bound, {big['outage_large_input_growth_spans_only_mb']} MB bounded by spans only")
    held = sum(v["pass"] for v in verdicts.values())
    print(f"\n{held}/{len(verdicts)} targets hold; {results['bench_seconds']} s; wrote {RESULTS}")
    failed = [name for name, result in details.items() if "error" in result]
    if failed:
        print(f"benchmark scripts that produced no figures: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
