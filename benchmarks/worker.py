"""One benchmark variant in its own process, driven over stdin/stdout (one JSON line each way).

    python -m benchmarks.worker --variant VARIANT [--endpoint URL] [--real-sandbox]

Variants: ``none`` (no provider, nothing instrumented), ``openinference`` (an SDK provider,
openinference's DSPyInstrumentor with its defaults, batch export over OTLP/HTTP: what one
gets from the library alone) and ``full`` (our ``configure_tracing``: stage and root spans,
session baggage, usage on LLM spans, gen_ai mapping and truncation, batch export, and the app's
metrics exported over OTLP beside the spans); ``full-nometrics`` is ``full`` with
``OTEL_METRICS_EXPORTER=none``.

Every variant is warmed by one invocation, then settles as a server worker does after its first
(``gc.freeze``): measured side by side, without it the cost per LLM call read 0.00-0.02 ms more,
as full collections walked the imported objects.

The code interpreter's sandbox is a child process (~70 ms a run) whose time is not
instrumentation; it is replaced by a canned success unless ``--real-sandbox`` is given.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from typing import Any

from benchmarks.common import bench_sop, bench_voice, repeated, rss_mb

_ROOT_LM = "offline"
VARIANTS = ("none", "openinference", "full", "full-allspans", "full-predict", "full-noexport", "full-nometrics")


def _stub_sandbox() -> None:
    from agentcreator.pipeline import agent_creator
    from agentcreator.tools import SandboxResult

    result = SandboxResult(exit_code=0, stdout="self-test passed: 5 tools\n", stderr="", timed_out=False,
                           memory_exceeded=False, output_truncated=False, duration_ms=0.1)
    agent_creator.run_python = lambda code, **kwargs: result


def _setup(variant: str, endpoint: str) -> Any:
    from agentcreator.config import load_settings

    # the worker's environment is the benchmark's own (common.bench_env: no OTel or AgentCreator
    # variable of the caller's), plus what a script set for this worker
    env = dict(os.environ) | {"AGENTCREATOR_LM": _ROOT_LM}
    if endpoint and variant.startswith("full") and variant != "full-noexport":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    if variant == "full-nometrics":
        env["OTEL_METRICS_EXPORTER"] = "none"
    settings = load_settings(env)
    if variant.startswith("full"):
        from agentcreator import telemetry
        from agentcreator.telemetry import dspy_spans

        if variant == "full-allspans":  # every openinference span, as before the lean instrumentor
            dspy_spans.SKIPPED_PREFIXES = ()
        elif variant == "full-predict":
            dspy_spans.SKIPPED_PREFIXES = ("Module.", "Adapter.")

        telemetry.configure_tracing(settings)
    elif variant == "openinference":
        from openinference.instrumentation.dspy import DSPyInstrumentor
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from agentcreator.telemetry.setup import build_resource

        provider = TracerProvider(resource=build_resource(settings))
        if endpoint:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
        trace.set_tracer_provider(provider)
        DSPyInstrumentor().instrument(tracer_provider=provider)
    return settings


def _flush() -> None:
    """Export the turn's spans, and feed the turn's queued metric records into the SDK's
    instruments (what a collection does first): that work grows with the load, so each turn pays
    for its own. The metrics' export is not forced: it is one request per
    OTEL_METRIC_EXPORT_INTERVAL whatever the load, made by the reader's thread, and lands in
    whichever turn it falls in, as it would on a server."""
    from opentelemetry import trace

    from agentcreator.telemetry import app_metrics

    app_metrics().flush_pending()
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(30_000)


class Runner:
    def __init__(self, variant: str, settings: Any) -> None:
        self.variant = variant
        self.settings = settings
        self.sop = bench_sop()
        self.voice = bench_voice()
        self.count = 0

    def invoke(self, lm: str) -> dict[str, Any]:
        from agentcreator.pipeline import InvocationRequest, run_invocation

        self.count += 1
        request = InvocationRequest(agent_id=f"bench-{self.count}", user_id="bench-user", sop=self.sop,
                                    voice_personality=self.voice, lm=lm)
        return run_invocation(request, self.settings).usage

    def use_sop(self, max_bytes: int) -> dict[str, Any]:
        """From now on, the benchmark SOP repeated to ``max_bytes`` of UTF-8 (the largest the API takes)."""
        self.sop = repeated(self.sop, max_bytes, "\n\n").encode()[:max_bytes].decode(errors="ignore")
        return {"sop_bytes": len(self.sop.encode())}

    def run(self, n: int, lm: str, flush: bool = True) -> dict[str, Any]:
        calls = 0
        cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            calls += self.invoke(lm)["llm_calls"]
        request_path = time.perf_counter() - started
        if flush:
            _flush()
        total = time.perf_counter() - started
        return {"elapsed_s": total, "request_path_s": request_path, "cpu_s": time.process_time() - cpu,
                "llm_calls": calls, "invocations": n,
                "rss_mb": rss_mb_self()}

    def trim(self) -> dict[str, Any]:
        """RSS after a full collection and glibc's ``malloc_trim``: what is live, not high-water."""
        import ctypes
        import gc

        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        return {"rss_mb": rss_mb_self()}

    def profile(self, n: int, lm: str, top: int = 40) -> dict[str, Any]:
        profiler = cProfile.Profile()
        profiler.enable()
        self.run(n, lm)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
        out.write("\n=== by own time ===\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        return {"profile": out.getvalue()}

    def stats(self, lm: str) -> dict[str, Any]:
        """Span counts and prompt sizes of one invocation (a recording processor, added last)."""
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        provider = trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):
            return {"spans": 0}
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        usage = self.invoke(lm)
        spans = exporter.get_finished_spans()
        llm = [s for s in spans if (s.attributes or {}).get("openinference.span.kind") == "LLM"]
        prompt = [len(str(s.attributes.get("input.value", "")).encode()) for s in llm]
        value_bytes = sum(len(str(v).encode()) for s in spans for v in (s.attributes or {}).values())
        names: dict[str, int] = {}
        for span in spans:
            names[span.name] = names.get(span.name, 0) + 1
        return {"spans": len(spans), "llm_spans": len(llm), "llm_calls": usage["llm_calls"],
                "prompt_bytes_min": min(prompt, default=0), "prompt_bytes_mean": sum(prompt) / max(1, len(prompt)),
                "attribute_bytes": value_bytes, "span_names": names}


def rss_mb_self() -> float:
    return rss_mb(os.getpid())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--real-sandbox", action="store_true")
    args = parser.parse_args()
    settings = _setup(args.variant, args.endpoint)
    if not args.real_sandbox:
        _stub_sandbox()
    runner = Runner(args.variant, settings)
    runner.invoke(_ROOT_LM)  # imports, instrumentation, the module: none of it is measured
    # as the server's workers do after their first invocation: what lives as long as the process
    # is frozen out of the garbage collector's walks (runtime/warmup.py)
    from agentcreator.runtime.warmup import settle_after_first_invocation

    settle_after_first_invocation()
    print(json.dumps({"ready": True, "rss_mb": rss_mb_self()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command.pop("cmd")
        if cmd == "exit":
            print(json.dumps({"bye": True}), flush=True)
            break
        answer = getattr(runner, cmd)(**command)
        print(json.dumps(answer), flush=True)
    from agentcreator import telemetry

    telemetry.shutdown(5)


if __name__ == "__main__":
    main()
