"""The synthesized collector configuration in a real ADOT v0.49.0 on loopback, fed by `agentcreator serve`.

Opt-in (`pytest -m adot`, with AGENTCREATOR_ADOT_BIN): the backends are local stand-ins (simulated
Langfuse, X-Ray's OTLP endpoint and PutTraceSegments, CloudWatch Logs, the ECS task metadata
endpoint); the collector and the app are real processes. The figures each test measured are printed
(`-s`) and attached to the report as user properties.
"""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agentcreator.collector import CONFIG_PATH, load_metrics
from agentcreator.telemetry.instruments import SPANS_DROPPED
from tests.adot._standins import EcsMetadataStandIn, LogsStandIn, OtlpStandIn, XRayApiStandIn
from tests.adot.conftest import RealCollector, collector_environment
from tests.support.runtime_server import RuntimeServer

pytestmark = pytest.mark.adot

ROOT = "AgentCreator Invocation"
STAGES = {"Parse Voice Personality", "Parse SOP", "Draft Plan", "Review Plan", "Generate Code", "Review Code",
          "Generate Prompt"}
VOICE = "Warm, calm and concise."
SOP = "1. Verify the caller's identity.\n2. Look up the order.\n3. Refund it if it is under 50 EUR."
MAX_SOP_BYTES = 200 * 1024
DELIVERY_S = 45.0  # the bound from an invocation's end to both backends
METRICS = load_metrics(CONFIG_PATH.parent / "adot-metrics.txt")


def markup_sop() -> str:
    """The largest SOP the API takes, made of what Go's JSON escapes six-fold."""
    unit = "<li>&lt;b&gt; refund & <b>escalate</b></li>\n"
    return (unit * (MAX_SOP_BYTES // len(unit)))[:MAX_SOP_BYTES]


def control_sop() -> str:
    """The largest SOP of multi-byte text and control characters (U+2028 and \\x01 escape to six bytes)."""
    unit = "étape\u2028\x01<é>\u2029"
    return (unit * (MAX_SOP_BYTES // len(unit.encode())))


def invoke(app: RuntimeServer, sop: str = SOP, *, lm: str | None = None, traceparent: str | None = None):
    body = {"agent_id": "refund-agent.v1", "user_id": "user-42", "sop": sop, "voice_personality": VOICE}
    if lm:
        body["options"] = {"lm": lm}
    headers = {"traceparent": traceparent} if traceparent else {}
    response = httpx.post(app.url + "/invocations", json=body, headers=headers, timeout=120)
    ended = time.monotonic()
    traceparent = response.headers.get("traceparent")
    trace_id = traceparent.split("-")[1] if traceparent else response.json()["trace_id"]
    return response, trace_id, ended


def caller_traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def whole(spans: list[dict]) -> bool:
    """Root, every stage the invocation reached (all, unless a stage failed), and no span whose
    parent is missing (the root's is the caller's, or none)."""
    ids = {span["span_id"] for span in spans}
    roots = [span for span in spans if span["name"] == ROOT]
    failed = roots and roots[0]["status_code"] == "ERROR"
    reached = {"Parse SOP", "Parse Voice Personality", "Draft Plan"} if failed else STAGES
    return (len(roots) == 1 and reached <= {span["name"] for span in spans}
            and all(span["parent_span_id"] in ids for span in spans if span is not roots[0]))


def delivered_after(backend: OtlpStandIn, trace_id: str, ended: float, timeout: float = DELIVERY_S) -> float:
    """Seconds from the invocation's end until the backend held the whole trace; fails after ``timeout``."""
    assert backend.wait_for(lambda: whole(backend.trace(trace_id)), timeout), (
        f"trace {trace_id} not whole at {backend.path} within {timeout} s: "
        f"{sorted(s['name'] for s in backend.trace(trace_id))}")
    return max(span["arrived"] for span in backend.trace(trace_id)) - ended


def app_environment(stack: dict, collector: RealCollector, **extra: str) -> dict[str, str]:
    environment = dict(stack["app"])
    environment.update(AGENTCREATOR_LM="offline", OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_endpoint, **extra)
    return environment


@pytest.fixture
def backends():
    with (OtlpStandIn("/api/public/otel/v1/traces") as langfuse, OtlpStandIn("/v1/traces") as xray_otlp,
          XRayApiStandIn() as xray_api, LogsStandIn() as logs, EcsMetadataStandIn() as ecs):
        yield {"langfuse": langfuse, "xray_otlp": xray_otlp, "xray_api": xray_api, "logs": logs, "ecs": ecs}


def dev_collector(adot_bin: str, stacks: dict, backends: dict, **overrides: str) -> RealCollector:
    stack = stacks["dev"]
    environment = collector_environment(
        stack, langfuse=backends["langfuse"].url, xray=backends["xray_otlp"].url, logs=backends["logs"].url,
        ecs=backends["ecs"].url, **overrides)
    return RealCollector(adot_bin, stack["collector"]["AOT_CONFIG_CONTENT"], environment)


def test_dev_stack_delivers_whole_traces_within_seconds_with_or_without_a_caller(
        adot_bin, stacks, backends, record_property):
    with dev_collector(adot_bin, stacks, backends) as collector:
        at_start = collector.metric_names()
        assert METRICS.at_start <= at_start, METRICS.at_start - at_start
        assert not (METRICS.names - METRICS.at_start) & at_start, (METRICS.names - METRICS.at_start) & at_start
        app = RuntimeServer(app_environment(stacks["dev"], collector)).start()
        try:
            _deliver_three_and_count_a_refusal(collector, app, backends, stacks["dev"]["alarmed"], record_property)
        finally:
            app.stop()


def _deliver_three_and_count_a_refusal(collector, app, backends, alarmed, record_property):
    langfuse, xray = backends["langfuse"], backends["xray_otlp"]
    invoke(app)  # warm-up: the first invocation waits on the app's lazy imports
    traceparent, caller_trace, caller_span = caller_traceparent()
    cases = {
        "caller traceparent": invoke(app, traceparent=traceparent),
        "failing stage": invoke(app, lm="offline:fail_stage=review_plan"),
        "maximal markup SOP": invoke(app, markup_sop()),
    }
    assert cases["caller traceparent"][1] == caller_trace
    assert [response.status_code for response, _, _ in cases.values()] == [200, 502, 200]
    for case, (_, trace_id, ended) in cases.items():
        for name, backend in (("langfuse", langfuse), ("xray", xray)):
            seconds = delivered_after(backend, trace_id, ended)
            record_property(f"{case} -> {name} (s)", round(seconds, 2))
            print(f"{case} -> {name}: whole {seconds:.2f} s after the invocation ended")
    root = next(s for s in xray.trace(caller_trace) if s["name"] == ROOT)
    assert root["parent_span_id"] == caller_span
    failing = xray.trace(cases["failing stage"][1])
    assert next(s for s in failing if s["name"] == ROOT)["status_code"] == "ERROR"
    with_traffic = collector.metric_names()
    assert METRICS.at_start | METRICS.with_traffic <= with_traffic
    after_first = METRICS.names - METRICS.at_start - METRICS.with_traffic
    assert not after_first & with_traffic, f"listed after-first but present without failures: {after_first}"
    assert alarmed - after_first <= with_traffic, alarmed - after_first - with_traffic
    record_property("largest span at X-Ray OTLP (bytes)", xray.max_span_bytes)
    print(f"largest span sent to X-Ray's OTLP endpoint: {xray.max_span_bytes} bytes")
    assert xray.max_span_bytes < 200 * 1000

    for span in xray.spans:
        assert span["resource"]["aws.service.type"] == "gen_ai_agent"
        assert span["resource"]["deployment.environment"] == "dev"
        assert span["attributes"]["session.id"] == "refund-agent.v1"
    signed = [r for r in xray.requests if r.path == "/v1/traces"]
    assert signed and all(r.headers["authorization"].startswith("AWS4-HMAC-SHA256 ") for r in signed)
    assert all(f"/{'us-east-1'}/xray/aws4_request" in r.headers["authorization"] for r in signed)
    assert all(r.headers.get("content-encoding") == "gzip" for r in signed)
    sent = [r for r in langfuse.requests if r.path == "/api/public/otel/v1/traces"]
    assert sent and all(r.headers["authorization"] == "Basic cGstbGYtZmFrZTpzay1sZi1mYWtl" for r in sent)
    assert all(r.headers["x-langfuse-ingestion-version"] == "4" for r in sent)

    # A backend that refuses for good: counted at once, and the first value reaches CloudWatch.
    langfuse.status = 401
    _, refused_trace, _ = invoke(app)
    assert xray.wait_for(lambda: whole(xray.trace(refused_trace)), DELIVERY_S)
    deadline = time.monotonic() + 20
    while collector.total("otelcol_exporter_send_failed_spans", exporter="otlp_http/langfuse") == 0:
        assert time.monotonic() < deadline, "send_failed_spans did not move for a 401"
        time.sleep(0.5)
    failed = collector.total("otelcol_exporter_send_failed_spans", exporter="otlp_http/langfuse")
    logs = backends["logs"]
    values = lambda: logs.metric_values("otelcol_exporter_send_failed_spans")  # noqa: E731
    assert logs.wait_for(lambda: sum(values()) >= failed, 120), f"EMF never carried {failed:g}: {values()}"
    emitted = {key for event in logs.events for key in event}
    assert METRICS.at_start | METRICS.with_traffic <= emitted, METRICS.at_start | METRICS.with_traffic - emitted
    record_property("send_failed_spans after one 401 batch", failed)
    print(f"401 from Langfuse: {failed:g} spans counted failed; EMF values {values()}")
    print(f"collector RSS after the run: {collector.rss_mib():.0f} MiB")


def test_remote_parent_does_not_hold_a_kept_trace_under_prod_like_sampling(adot_bin, stacks, backends, record_property):
    """Nothing kept by percentage: only the error and slow policies can keep a trace, and neither may
    wait for a root, which a caller's traceparent means the collector never sees."""
    xray = backends["xray_otlp"]
    with dev_collector(adot_bin, stacks, backends, SAMPLING_PERCENTAGE="0",
                       SAMPLING_LATENCY_THRESHOLD_MS="2000") as collector, \
            RuntimeServer(app_environment(stacks["dev"], collector)) as app:
        invoke(app)
        cases = {
            "slow, caller traceparent": invoke(app, lm="offline:latency_ms=400", traceparent=caller_traceparent()[0]),
            "failing, caller traceparent": invoke(app, lm="offline:fail_stage=generate_prompt",
                                                  traceparent=caller_traceparent()[0]),
        }
        _, healthy, _ = invoke(app, traceparent=caller_traceparent()[0])
        for case, (_, trace_id, ended) in cases.items():
            seconds = delivered_after(xray, trace_id, ended)
            record_property(f"{case} (s)", round(seconds, 2))
            print(f"{case}: whole at X-Ray {seconds:.2f} s after the invocation ended")
        time.sleep(10)
        assert xray.trace(healthy) == [], "a fast, healthy trace outside the percentage was exported"


def test_awsxray_mode_keeps_every_segment_document_under_64_kb(adot_bin, stacks, backends, record_property):
    stack = stacks["staging"]
    assert "awsxray" in yaml.safe_load(stack["collector"]["AOT_CONFIG_CONTENT"])["exporters"]
    environment = collector_environment(
        stack, langfuse=backends["langfuse"].url, xray=backends["xray_api"].url, logs=backends["logs"].url,
        ecs=backends["ecs"].url, SAMPLING_PERCENTAGE="100")  # staging keeps 50 %: this test is about sizes
    api = backends["xray_api"]
    with RealCollector(adot_bin, stack["collector"]["AOT_CONFIG_CONTENT"], environment) as collector, \
            RuntimeServer(app_environment(stack, collector)) as app:
        invoke(app)
        cases = {
            "markup SOP": invoke(app, markup_sop()),
            "control and multi-byte SOP": invoke(app, control_sop()),
            "failing, markup SOP": invoke(app, markup_sop(), lm="offline:fail_stage=generate_code"),
        }
        traces = {f"1-{trace_id[:8]}-{trace_id[8:]}" for _, trace_id, _ in cases.values()}  # X-Ray's id format
        assert api.wait_for(lambda: all(any(t in d for d in api.documents) for t in traces), DELIVERY_S)
        time.sleep(5)
        sizes = sorted(len(document.encode()) for document in api.documents)
        record_property("segment documents", len(sizes))
        record_property("largest segment document (bytes)", sizes[-1])
        print(f"{len(sizes)} segment documents; largest {sizes[-1]} bytes; median {sizes[len(sizes) // 2]}")
        assert sizes[-1] < 64000
        annotations = [json.loads(d).get("annotations", {}) for d in api.documents]
        print("annotation keys:", sorted({k for a in annotations for k in a}))
        # exporter.xray.allowDot (beta, on in v0.49.0) keeps the dots of an indexed key.
        segments = [a for a in annotations if a.get("otel.resource.deployment.environment") == "staging"]
        assert len(segments) >= len(cases), "the environment is not an annotation on each trace's segment"
        assert all(a.get("session.id") == "refund-agent.v1" for a in annotations if a)


def emf_metrics(events: list[dict], namespace: str) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, name, dimensions) of every metric the EMF events declare in ``namespace``."""
    found = set()
    for event in events:
        for directive in event.get("_aws", {}).get("CloudWatchMetrics", []):
            if directive["Namespace"] == namespace:
                for names in directive["Dimensions"]:
                    dimensions = frozenset((name, str(event[name])) for name in names)
                    found |= {(namespace, metric["Name"], dimensions) for metric in directive["Metrics"]}
    return found


def test_app_metrics_reach_cloudwatch_as_the_pipeline_dashboard_and_alarms_read_them(
        adot_bin, stacks, backends, record_property):
    """The app's OTLP metrics through the real awsemf exporter: every (name, dimensions) the
    synthesized pipeline dashboard and alarms read is one an EMF event declares, with no others."""
    stack, logs = stacks["dev"], backends["logs"]
    reads = stack["pipeline_reads"]
    (namespace,) = {namespace for namespace, _, _ in reads}
    with dev_collector(adot_bin, stacks, backends) as collector, \
            RuntimeServer(app_environment(stack, collector, OTEL_METRIC_EXPORT_INTERVAL="1000")) as app:
        outcomes = [invoke(app)[0].status_code,  # plan and code approved at once
                    invoke(app, lm="offline:plan_rejections=4,code_rejections=3")[0].status_code,  # both exhausted
                    invoke(app, lm="offline:fail_stage=review_plan")[0].status_code]
        assert outcomes == [200, 200, 502]
        declared = lambda: emf_metrics(logs.events, namespace)  # noqa: E731
        arrived = logs.wait_for(lambda: reads <= declared(), 90)
        missing = reads - declared()
        assert arrived, f"read by the dashboard or alarms, never declared in EMF: {sorted(map(str, missing))}"
    groups = {event["group"] for event in logs.events if event.get("_aws", {}).get("CloudWatchMetrics", [{}])[0]
              .get("Namespace") == namespace}
    assert groups == {"/agentcreator/dev/app-metrics"}
    dimension_names = {name for _, name_of, dimensions in declared() if name_of != SPANS_DROPPED
                       for name, _ in dimensions}
    assert dimension_names <= {"environment", "agentcreator.outcome", "agentcreator.stage", "gen_ai.token.type"}
    # error.type is a dimension of the drop count only, with its two reasons; the collector took every span
    reasons = {dict(dimensions).get("error.type") for _, metric, dimensions in declared() if metric == SPANS_DROPPED}
    assert reasons == {None, "queue_full", "export_failed"}
    assert {event[SPANS_DROPPED] for event in logs.events if SPANS_DROPPED in event} == {0}
    record_property("app metrics declared in EMF", len(declared()))
    print(f"{len(declared())} (metric, dimensions) in {namespace}; the dashboard and alarms read {len(reads)}")


def test_spans_the_app_drops_reach_cloudwatch_counted_by_reason(adot_bin, stacks, backends, record_property):
    """What ``AppDroppedSpans`` reads, through the real awsemf exporter: an app whose span queue
    holds one span drops most of an invocation's spans as the queue fills, and CloudWatch gets
    exactly the count ``/ping`` gives, under ``error.type=queue_full``."""
    stack, logs = stacks["dev"], backends["logs"]
    (namespace,) = {namespace for namespace, _, _ in stack["pipeline_reads"]}

    def dropped(reason: str) -> float:
        return sum(event[SPANS_DROPPED] for event in logs.events
                   if SPANS_DROPPED in event and event.get("error.type") == reason)

    with dev_collector(adot_bin, stacks, backends) as collector, RuntimeServer(app_environment(
            stack, collector, OTEL_METRIC_EXPORT_INTERVAL="1000", OTEL_BSP_MAX_QUEUE_SIZE="1",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1")) as app:
        assert invoke(app)[0].status_code == 200
        count = app.ping()["dropped_spans"]
        assert count > 0
        arrived = logs.wait_for(lambda: dropped("queue_full") >= count, 60)
        assert arrived, f"CloudWatch got {dropped('queue_full')} of the {count} spans the app dropped"
    assert dropped("queue_full") == count and dropped("export_failed") == 0
    assert (namespace, SPANS_DROPPED, frozenset({("environment", "dev"), ("error.type", "queue_full")})) in \
        emf_metrics(logs.events, namespace)
    record_property("spans dropped by the app, as CloudWatch got them", count)
    print(f"the app dropped {count} spans; EMF carried {dropped('queue_full'):g} under error.type=queue_full")


def spans_request(count: int = 20) -> bytes:
    """One OTLP request of ``count`` finished root spans of one new trace, ~2 KB of content each."""
    trace_id, now = secrets.token_bytes(16), time.time_ns()
    content = KeyValue(key="input.value", value=AnyValue(string_value="x" * 2000))
    spans = [Span(trace_id=trace_id, span_id=secrets.token_bytes(8), name="probe", start_time_unix_nano=now - 10**9,
                  end_time_unix_nano=now, attributes=[content]) for _ in range(count)]
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="probe"))])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()


# Each after-first loss provoked in the dev collector: the collector overrides, the backends' answers,
# and (metric, exporter label or None) that must move.
LOSS_RUNS = {
    "permanent error": ({}, {"langfuse": 401}, [("otelcol_exporter_send_failed_spans", "otlp_http/langfuse")]),
    "full queue": ({"COLLECTOR_QUEUE_BYTES": "1024"}, {"langfuse": 503, "xray_otlp": 503},
                   [("otelcol_exporter_enqueue_failed_spans", "otlp_http/xray"),
                    ("otelcol_exporter_enqueue_failed_spans", "otlp_http/langfuse")]),
    "memory": ({"COLLECTOR_MEMORY_LIMIT_MIB": "2", "COLLECTOR_MEMORY_SPIKE_MIB": "1"}, {},
               [("otelcol_processor_memory_limiter_refused_spans", None)]),
}


def test_the_loss_runs_provoke_every_alarmed_after_first_metric(adot_bin, stacks):
    after_first = METRICS.names - METRICS.at_start - METRICS.with_traffic
    provoked = {name for _, _, moved in LOSS_RUNS.values() for name, _ in moved}
    assert after_first & stacks["dev"]["alarmed"] <= provoked, after_first & stacks["dev"]["alarmed"] - provoked


@pytest.mark.parametrize("run", LOSS_RUNS)
def test_each_loss_is_counted_and_reaches_cloudwatch_from_its_first_span(
        adot_bin, stacks, backends, run, record_property):
    """A 401, a full queue, a memory-limiter refusal: each counter moves with its first span, awsemf
    ships that first value, and the self-metrics keep arriving while the traces are refused."""
    overrides, statuses, moved = LOSS_RUNS[run]
    for backend, status in statuses.items():
        backends[backend].status = status
    logs = backends["logs"]
    with dev_collector(adot_bin, stacks, backends, **overrides) as collector:
        time.sleep(2)  # the memory limiter checks the heap once a second
        answers = [httpx.post(collector.otlp_endpoint + "/v1/traces", content=spans_request(), timeout=10,
                              headers={"Content-Type": "application/x-protobuf"}).status_code for _ in range(3)]
        print(f"{run}: the receiver answered {answers}")
        if run == "memory":
            assert set(answers) == {503}, answers  # retryable: the app's exporter tries again
            heartbeats = len(logs.metric_values("otelcol_process_memory_rss"))
        for name, exporter in moved:
            labels = {"exporter": exporter} if exporter else {}
            deadline = time.monotonic() + 30
            while collector.total(name, **labels) == 0:
                assert time.monotonic() < deadline, f"{name} {labels} did not move"
                time.sleep(0.5)
            count = collector.total(name, **labels)
            assert logs.wait_for(lambda n=name, c=count: sum(logs.metric_values(n)) >= c, 150), (
                f"EMF never carried {name} = {count:g}: {logs.metric_values(name)}")
            record_property(f"{name} {labels}", count)
            print(f"{run}: {name} {labels} = {count:g}; EMF values {logs.metric_values(name)}")
        if run == "memory":
            assert len(logs.metric_values("otelcol_process_memory_rss")) > heartbeats, "self-metrics stopped"
