"""Critical path: with every LM call taking 200 ms, how close is the pipeline to its LM latency?

The worst case (4 plan drafts, 3 code generations) runs under full telemetry. Its critical
path, read from the pipeline's structure (docs/trace.md and ``pipeline/agent_creator.py``):

    Parse Voice ∥ Parse SOP → (Draft Plan → Review Plan)×4 → (Generate Code → Review Code)×3
                                                            ∥ Generate Prompt

Generate Code is a ReAct: two steps (run the self-test, finish) plus its extract call = 3.
So 1 + 4×2 + 3×(3+1) = 21 sequential round trips; running every stage one after another needs
1+1+4+4+3×3+3+1 = 23. The ratio divides the measured wall time by 21 × 200 ms. It is
measured with the real code-interpreter sandbox (a child process per tool call, on the
critical path) and, beside it, with the sandbox stubbed, to separate the two costs.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import LM_LATENCY_MS, Worker, log, median
from benchmarks.sink import QuietSink

PLAN_ITERATIONS, CODE_ITERATIONS = 4, 3
REACT_CALLS = 2 + 1  # tool step, finish step, extract
LM = f"offline:plan_rejections={PLAN_ITERATIONS},code_rejections={CODE_ITERATIONS},latency_ms={LM_LATENCY_MS}"
REPEATS = 3


def critical_path_calls() -> int:
    return 1 + PLAN_ITERATIONS * 2 + CODE_ITERATIONS * (REACT_CALLS + 1)


def seed_sequential_calls() -> int:
    return 1 + 1 + PLAN_ITERATIONS * 2 + CODE_ITERATIONS * (REACT_CALLS + 1) + 1


def main(repeats: int = REPEATS) -> dict[str, Any]:
    calls = critical_path_calls()
    ideal_s = calls * LM_LATENCY_MS / 1000
    with QuietSink() as sink, Worker("full", endpoint=sink.endpoint, stub_sandbox=False) as real, \
            Worker("full", endpoint=sink.endpoint) as stubbed:
        walls: dict[str, list[float]] = {"real": [], "stubbed": []}
        total_calls = 0
        for _ in range(repeats):
            for name, worker in (("real", real), ("stubbed", stubbed)):
                result = worker.call(cmd="run", n=1, lm=LM)
                walls[name].append(result["request_path_s"])
                total_calls = result["llm_calls"]
        log(f"critical path: {repeats} worst-case invocations per variant done")
    wall, wall_stubbed = median(walls["real"]), median(walls["stubbed"])
    return {
        "critical_path_ratio": round(wall / ideal_s, 3),
        "critical_path_ratio_sandbox_stubbed": round(wall_stubbed / ideal_s, 3),
        "llm_round_trips_worst_case": calls,
        "llm_round_trips_seed_order": seed_sequential_calls(),
        "llm_calls_worst_case": total_calls,
        "worst_case_wall_s": round(wall, 3),
        "worst_case_critical_path_lm_s": ideal_s,
        "round_trips_measured": round(wall_stubbed / (LM_LATENCY_MS / 1000), 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
