"""Cold start: from launching ``agentcreator serve`` to its first 200 on ``/ping``.

Interleaved with timing ``python -c "import dspy"`` in a fresh interpreter, the cost the
server keeps off its start-up path (it imports DSPy in the background after it listens).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from tests.support.runtime_server import RuntimeServer

from benchmarks.common import LM_LATENCY_MS, ROOT, bench_env, log, median
from benchmarks.sink import QuietSink

REPEATS = 3


def _import_dspy_s() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import dspy"], cwd=ROOT, env=bench_env(), check=True)
    return time.monotonic() - started


def main(repeats: int = REPEATS) -> dict[str, Any]:
    starts: list[float] = []
    imports: list[float] = []
    with QuietSink() as sink:
        env = bench_env(AGENTCREATOR_LM=f"offline:latency_ms={LM_LATENCY_MS}",
                        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint)
        for _ in range(repeats):
            with RuntimeServer(env, start_timeout=60) as server:
                assert server.ping_after_s is not None
                starts.append(server.ping_after_s)
            imports.append(_import_dspy_s())
    log(f"cold start: {repeats} starts done")
    cold, dspy = median(starts), median(imports)
    return {
        "cold_start_s": round(cold, 3),
        "import_dspy_s": round(dspy, 3),
        "cold_start_vs_import_dspy": round(cold / dspy, 3),
        "cold_start_runs_s": [round(s, 3) for s in starts],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
