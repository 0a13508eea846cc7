"""The dev collector in a real ADOT v0.49.0 inside a memory cgroup of its container's size, under load.

    AGENTCREATOR_ADOT_BIN=/path/to/awscollector python -m benchmarks.collector_memory [--cgroup DIR]

Opt-in (not in ``make bench``): it needs the ADOT binary and, for the hard limit, a writable
cgroup-v1 memory directory (as root). It runs the synthesized dev configuration with local
stand-ins (simulated backends) and replays invocation-shaped traces (18 spans, ~5 KB of prompt
each, in three requests as the app's exporter sends them; a refused request is counted, not
retried). Cases:

- held: tail sampling holding every trace (nothing kept yet) at four times ``--rate``;
- failing: every backend answering 503 so the queues fill, at four times ``--rate``;
- burst: held, from 128 senders at once (about 100 times ``--rate``);
- outage: both backends down for ``--outage`` seconds at ``--rate`` invocations a second (the dev
  task's 64 concurrent invocations of about a minute each), then back: what was lost.

It prints one JSON line per case: peak resident memory against the container's limit, the heap
when refusals began, spans refused, dropped and delivered, and whether the kernel killed it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

REFUSED = "otelcol_processor_memory_limiter_refused_spans"
DROPPED_TOO_EARLY = "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early"
HEARTBEAT = "otelcol_process_memory_rss"
SPANS_PER_TRACE = 18
PROMPT_BYTES = 5000


def _attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def trace_requests(remote_parent: bool) -> list[tuple[bytes, int]]:
    """One invocation's spans as the app's exporter would send them: in three requests, root last."""
    trace_id = secrets.token_bytes(16)
    root_id = secrets.token_bytes(8)
    now = time.time_ns()
    spans = []
    for index in range(SPANS_PER_TRACE - 1):
        spans.append(Span(trace_id=trace_id, span_id=secrets.token_bytes(8), parent_span_id=root_id,
                          name=f"stage {index}", start_time_unix_nano=now - 10**9, end_time_unix_nano=now,
                          attributes=[_attribute("session.id", "bench"),
                                      _attribute("input.value", secrets.token_hex(PROMPT_BYTES // 2))]))
    spans.append(Span(trace_id=trace_id, span_id=root_id,
                      parent_span_id=secrets.token_bytes(8) if remote_parent else b"",
                      name="AgentCreator Invocation", start_time_unix_nano=now - 2 * 10**9, end_time_unix_nano=now,
                      attributes=[_attribute("session.id", "bench")]))
    resource = [_attribute("service.name", "agentcreator-meta-agent"), _attribute("deployment.environment", "dev")]
    batches = (spans[:8], spans[8:17], spans[17:])
    requests = []
    for batch in batches:
        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            resource={"attributes": resource}, scope_spans=[ScopeSpans(spans=batch)])])
        requests.append((request.SerializeToString(), len(batch)))
    return requests


class Load:
    """``workers`` threads, each sending one invocation every ``interval`` seconds; counts spans."""

    def __init__(self, url: str, workers: int, interval: float, remote_parent: bool) -> None:
        self.url, self.workers, self.interval, self.remote_parent = url, workers, interval, remote_parent
        self.accepted = self.refused = 0  # spans
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                for body, spans in trace_requests(self.remote_parent):
                    try:
                        status = client.post(self.url, content=body,
                                             headers={"Content-Type": "application/x-protobuf"}).status_code
                    except httpx.HTTPError:
                        status = 0
                    with self._lock:
                        if status == 200:
                            self.accepted += spans
                        else:
                            self.refused += spans
                    time.sleep(0.3)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def __enter__(self) -> Load:
        for _ in range(self.workers):
            threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()


def _total(metrics: dict[str, float], name: str) -> float:
    return sum(value for key, value in metrics.items() if key.split("{", 1)[0].split(" ", 1)[0] == name)


def run_case(name: str, adot_bin: str, stack: dict, cgroup: Path | None, container_mib: int, *, workers: int,
             interval: float, seconds: float, backend_status: int, outage_s: float = 0.0,
             overrides: dict[str, str]) -> dict:
    from tests.adot._standins import EcsMetadataStandIn, LogsStandIn, OtlpStandIn
    from tests.adot.conftest import RealCollector, collector_environment

    with OtlpStandIn("/api/public/otel/v1/traces") as langfuse, OtlpStandIn("/v1/traces") as xray, \
            LogsStandIn() as logs, EcsMetadataStandIn() as ecs:
        langfuse.status = xray.status = backend_status
        environment = collector_environment(stack, langfuse=langfuse.url, xray=xray.url, logs=logs.url,
                                            ecs=ecs.url, **overrides)
        collector = RealCollector(adot_bin, stack["collector"]["AOT_CONFIG_CONTENT"], environment)
        if cgroup is not None:
            _evict_from_page_cache(adot_bin)  # so its pages are charged to the cgroup, as in a container
            (cgroup / "memory.limit_in_bytes").write_text(str(container_mib * 1024 * 1024))
            (cgroup / "memory.max_usage_in_bytes").write_text("0")
            collector.argv = ["sh", "-c", f"echo $$ > {cgroup}/tasks; exec {adot_bin}"]
        collector.start()
        try:
            return _measure(name, collector, workers, interval, seconds, outage_s, cgroup, container_mib,
                            langfuse, xray, logs)
        finally:
            collector.stop()  # also when the measurement fails: never leave a collector running


def _measure(name: str, collector, workers: int, interval: float, seconds: float, outage_s: float,
             cgroup: Path | None, container_mib: int, langfuse, xray, logs) -> dict:
    if cgroup is not None:
        oom_before, faults_before = _oom_kills(cgroup), _major_faults(cgroup)
    idle = collector.rss_mib()
    idle_heap = _total(collector.metrics(), "otelcol_process_runtime_heap_alloc_bytes") / 2**20
    cpu_before = _cpu_seconds(collector.proc.pid)
    peak, heap_at_refusal, killed, peak_heap = idle, None, False, 0.0
    emf_at_refusal = unanswered = 0
    started = time.monotonic()
    with Load(collector.otlp_endpoint + "/v1/traces", workers, interval, remote_parent=True) as load:
        while time.monotonic() - started < seconds:
            time.sleep(1)
            if outage_s and time.monotonic() - started >= outage_s:
                langfuse.status = xray.status = 200
            if collector.proc.poll() is not None:
                killed = True
                break
            peak = max(peak, collector.rss_mib())
            try:
                metrics = collector.metrics()
            except httpx.HTTPError:  # a collector starved of memory stops answering
                unanswered += 1
                continue
            heap = _total(metrics, "otelcol_process_runtime_heap_alloc_bytes") / 2**20
            peak_heap = max(peak_heap, heap)
            if _total(metrics, REFUSED) and heap_at_refusal is None:
                heap_at_refusal = heap
                emf_at_refusal = len(logs.metric_values(HEARTBEAT))
    cpu = None if killed else _cpu_seconds(collector.proc.pid) - cpu_before
    figures = {"case": name, "container_mib": container_mib, "workers": workers,
               "invocations_per_s": round(workers / interval, 2), "seconds": seconds,
               "outage_s": outage_s or None, "idle_rss_mib": round(idle), "idle_heap_mib": round(idle_heap, 1),
               "peak_rss_mib": round(peak),
               "peak_heap_mib": round(peak_heap),
               "heap_mib_at_first_refusal": heap_at_refusal and round(heap_at_refusal),
               "telemetry_scrapes_unanswered": unanswered,
               "collector_cpu_ms_per_span": cpu and round(cpu * 1000 / max(1, load.accepted), 3),
               "spans_accepted": load.accepted, "spans_refused_to_the_sender": load.refused, "oom_killed": killed}
    if not killed and outage_s:
        # Let the queues drain: a batch is retried for up to 300 s (max_interval 30 s).
        deadline = time.monotonic() + 330
        while time.monotonic() < deadline:
            time.sleep(5)
            try:
                if _total(collector.metrics(), "otelcol_exporter_queue_size") == 0:
                    break
            except httpx.HTTPError:
                unanswered += 1
        time.sleep(5)
        figures["telemetry_scrapes_unanswered"] = unanswered
        figures["delivered_langfuse"] = len(langfuse.spans)
        figures["delivered_xray"] = len(xray.spans)
    if not killed:
        time.sleep(2)
        try:
            metrics = collector.metrics()
        except httpx.HTTPError:
            metrics = {}
            figures["final_scrape_unanswered"] = True
        for short, name_ in (("refused_spans", REFUSED),
                             ("enqueue_failed_spans", "otelcol_exporter_enqueue_failed_spans"),
                             ("send_failed_spans", "otelcol_exporter_send_failed_spans"),
                             ("dropped_too_early", DROPPED_TOO_EARLY)):
            figures[short] = _total(metrics, name_)
    if heap_at_refusal is not None:
        # The self-metrics pipeline has no memory limiter: its EMF must keep arriving.
        figures["emf_heartbeats_after_first_refusal"] = len(logs.metric_values(HEARTBEAT)) - emf_at_refusal
    if cgroup is not None:
        figures["cgroup_peak_mib"] = round(int((cgroup / "memory.max_usage_in_bytes").read_text()) / 2**20)
        figures["cgroup_oom_kills"] = _oom_kills(cgroup) - oom_before
        # Pages read back from disk: the binary's own pages evicted under pressure (thrashing).
        figures["cgroup_major_faults"] = _major_faults(cgroup) - faults_before
    return figures


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _evict_from_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _major_faults(cgroup: Path) -> int:
    for line in (cgroup / "memory.stat").read_text().splitlines():
        if line.startswith("total_pgmajfault "):
            return int(line.split()[1])
    return 0


def _oom_kills(cgroup: Path) -> int:
    for line in (cgroup / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cgroup", type=Path, help="a cgroup-v1 memory directory to run the collector in")
    parser.add_argument("--seconds", type=float, default=150, help="load time of the held and failing cases")
    parser.add_argument("--outage", type=float, default=240, help="seconds both backends are down")
    parser.add_argument("--rate", type=float, default=64 / 60, help="invocations a second in the outage case")
    parser.add_argument("--case", choices=("held", "failing", "burst", "outage"), action="append")
    args = parser.parse_args()
    adot_bin = os.environ["AGENTCREATOR_ADOT_BIN"]
    import tempfile

    from tests.adot.conftest import _resolve as resolve
    from tests.infra.conftest import _load_infra_app, containers, environment_of, synthesize

    raw = synthesize(_load_infra_app(), Path(tempfile.mkdtemp())).raw["dev"]
    task = containers(raw)

    stack = {"collector": {k: resolve(v) for k, v in environment_of(task["collector"]).items()},
             "secrets": {s["Name"] for s in task["collector"].get("Secrets", [])}, "app": {}}
    container_mib = task["collector"]["Memory"]
    def at(rate: float) -> dict:
        senders = max(1, round(rate * 8))  # each sends one invocation every ~8 s
        return {"workers": senders, "interval": senders / rate}

    nothing_kept = {"SAMPLING_PERCENTAGE": "0", "SAMPLING_LATENCY_THRESHOLD_MS": "3600000"}
    cases = {
        "held": dict(**at(4 * args.rate), seconds=args.seconds, backend_status=200, overrides=nothing_kept),
        "failing": dict(**at(4 * args.rate), seconds=args.seconds, backend_status=503, overrides={}),
        "burst": dict(workers=128, interval=1.0, seconds=60, backend_status=200, overrides=nothing_kept),
        "outage": dict(**at(args.rate), seconds=args.outage + 60, backend_status=503, outage_s=args.outage,
                       overrides={}),
    }
    for name in args.case or list(cases):
        print(json.dumps(run_case(name, adot_bin, stack, args.cgroup, container_mib, **cases[name])), flush=True)


if __name__ == "__main__":
    main()
