"""The HTTP runtime under load, and with its collector black-holed.

``agentcreator serve`` runs as a subprocess (simulated LM, 200 ms a call) exporting to a
local OTLP sink (its own process) or to a black hole (a socket that accepts connections and
never reads). Async clients keep 1, 16 and 64 invocations in flight (each client sends its
next request when the last one answers); throughput is completed requests over the phase's
wall time, latency is per request. The outage comparison alternates healthy and black-holed
phases at 64 clients, so both meet the same machine load.

    concurrency_throughput_ratio = throughput(64) / (64 × throughput(1))   (1.0 = perfect scaling)
    p99_latency_ratio           = p99 latency at 64 / p50 latency at 1
    outage_p99_ratio            = p99 at 64, black-holed / p99 at 64, healthy
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import Any

import httpx
from tests.support.dead_endpoints import black_hole
from tests.support.runtime_server import RuntimeServer

from benchmarks.common import EXAMPLES, LM_LATENCY_MS, ROOT, bench_env, log, median, percentile, rss_mb

LEVELS = {1: 6, 16: 3, 64: 3}  # clients: requests per client
OUTAGE_ROUNDS = 2
REQUEST_TIMEOUT_S = 120


def _payload(index: int) -> dict[str, Any]:
    return {
        "agent_id": f"load-{index}",
        "user_id": "bench",
        "sop": (EXAMPLES / "sops" / "refund-request.md").read_text(),
        "voice_personality": (EXAMPLES / "voices" / "warm-concierge.md").read_text(),
    }


async def _phase(url: str, clients: int, per_client: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        async def one_client(number: int) -> None:
            nonlocal failures
            for request in range(per_client):
                started = time.perf_counter()
                try:
                    response = await client.post("/invocations", json=_payload(number * 1000 + request))
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return {"clients": clients, "completed": len(latencies), "failed": failures, "elapsed_s": elapsed,
            "throughput_rps": len(latencies) / elapsed, "p50_s": median(latencies),
            "p99_s": percentile(latencies, 99)}


def _run(url: str, clients: int, per_client: int) -> dict[str, Any]:
    result = asyncio.run(_phase(url, clients, per_client))
    log(f"load: {clients:>2} clients → {result['throughput_rps']:.2f} req/s, p50 {result['p50_s']:.2f} s, "
        f"p99 {result['p99_s']:.2f} s, {result['failed']} failed")
    return result


def _server(endpoint: str) -> RuntimeServer:
    env = bench_env(AGENTCREATOR_LM=f"offline:latency_ms={LM_LATENCY_MS}", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                    AGENTCREATOR_MAX_CONCURRENCY="64", OTEL_EXPORTER_OTLP_TIMEOUT="10")
    return RuntimeServer(env, start_timeout=60)


def _warm(url: str) -> None:
    for index in range(2):  # the first invocation imports DSPy and builds the module
        httpx.post(url + "/invocations", json=_payload(index), timeout=REQUEST_TIMEOUT_S).raise_for_status()


def main() -> dict[str, Any]:
    with ExitStack() as stack:
        sink = subprocess.Popen([sys.executable, "-m", "benchmarks.sink"], cwd=ROOT, env=bench_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        stack.callback(sink.wait, 10)
        stack.callback(sink.stdin.close)  # type: ignore[union-attr]
        sink_url = sink.stdout.readline().strip()  # type: ignore[union-attr]
        hole = stack.enter_context(black_hole())
        healthy = stack.enter_context(_server(sink_url))
        dead = stack.enter_context(_server(hole))
        _warm(healthy.url)
        _warm(dead.url)
        levels = {clients: _run(healthy.url, clients, per) for clients, per in LEVELS.items()}
        outage: dict[str, list[dict[str, Any]]] = {"healthy": [levels[64]], "dead": []}
        for round_ in range(OUTAGE_ROUNDS):
            outage["dead"].append(_run(dead.url, 64, LEVELS[64]))
            if round_ + 1 < OUTAGE_ROUNDS:
                outage["healthy"].append(_run(healthy.url, 64, LEVELS[64]))
        assert healthy.proc is not None and dead.proc is not None
        rss_healthy, rss_dead = rss_mb(healthy.proc.pid), rss_mb(dead.proc.pid)
        dropped = dead.ping().get("dropped_spans")
    one, many = levels[1], levels[64]
    p99 = {name: median([r["p99_s"] for r in runs]) for name, runs in outage.items()}
    return {
        "concurrency_throughput_ratio": round(many["throughput_rps"] / (64 * one["throughput_rps"]), 3),
        "p99_latency_ratio": round(many["p99_s"] / one["p50_s"], 3),
        "outage_p99_ratio": round(p99["dead"] / p99["healthy"], 3),
        "outage_rss_delta_mb": round(rss_dead - rss_healthy, 1),
        "outage_failed_requests": sum(r["failed"] for r in outage["dead"]),
        "load_failed_requests": sum(r["failed"] for r in levels.values()),
        "throughput_rps": {str(c): round(r["throughput_rps"], 3) for c, r in levels.items()},
        "throughput_16_ratio": round(levels[16]["throughput_rps"] / (16 * one["throughput_rps"]), 3),
        "latency_p50_s": {str(c): round(r["p50_s"], 3) for c, r in levels.items()},
        "latency_p99_s": {str(c): round(r["p99_s"], 3) for c, r in levels.items()},
        "outage_p99_s": round(p99["dead"], 3),
        "healthy_p99_s": round(p99["healthy"], 3),
        "rss_healthy_mb": round(rss_healthy, 1),
        "rss_outage_mb": round(rss_dead, 1),
        "outage_dropped_spans": dropped,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
