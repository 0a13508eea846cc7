"""The HTTP runtime as a real process: the AgentCore contract, bad input, overload, LM failure,
SIGTERM with work in flight, and a collector that refuses or never answers."""

from __future__ import annotations

import json
import re
import statistics
import threading
import time

import httpx
import pytest

from tests.support.dead_endpoints import black_hole, refusing_endpoint
from tests.support.otlp_sink import OtlpSink
from tests.support.runtime_server import RuntimeServer

pytestmark = pytest.mark.slow

ROOT = "AgentCreator Invocation"
STAGES = ("Parse Voice Personality", "Parse SOP", "Draft Plan", "Review Plan", "Generate Code", "Review Code",
          "Generate Prompt")
SOP = "1. Verify the caller's identity.\n2. Look up the order.\n3. Issue a refund if it is under 50 EUR."
VOICE = "Warm, calm and concise; never uses jargon."
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
FAST_FLUSH = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "500"}


def payload(**overrides: object) -> dict:
    return {"agent_id": "refund-agent.v1", "user_id": "user-42", "sop": SOP, "voice_personality": VOICE, **overrides}


def invoke(server: RuntimeServer, body: dict | None = None, **kwargs: object) -> httpx.Response:
    return httpx.post(server.url + "/invocations", json=payload() if body is None else body, timeout=60, **kwargs)


def timed_invocations(server: RuntimeServer, count: int) -> list[float]:
    invoke(server)  # the first one may still wait on the warm-up imports
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert invoke(server).status_code == 200
        times.append(time.perf_counter() - started)
    return times


def complete_trace(spans: list[dict], trace_id: str, llm_calls: int) -> bool:
    """Root, every stage, one LLM span per LM call, and no span whose parent is missing."""
    mine = [span for span in spans if span["trace_id"] == trace_id]
    ids = {span["span_id"] for span in mine}
    names = {span["name"] for span in mine}
    llm = [span for span in mine if span["attributes"].get("openinference.span.kind") == "LLM"]
    roots = [span for span in mine if span["name"] == ROOT]
    return (
        len(roots) == 1 and set(STAGES) <= names and len(llm) == llm_calls
        and all(span["parent_span_id"] in ids for span in mine if span is not roots[0])
    )


def in_background(server: RuntimeServer, body: dict, results: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(invoke(server, body)), daemon=True)
    thread.start()
    return thread


def wait_in_flight(server: RuntimeServer, count: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ping = server.ping()
        if ping["in_flight"] >= count:
            return ping
        time.sleep(0.02)
    raise AssertionError(f"never saw {count} invocations in flight")


@pytest.fixture(scope="module")
def sink():
    with OtlpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def server(sink: OtlpSink):
    env = {"AGENTCREATOR_LM": "offline", "AGENTCREATOR_MAX_CONCURRENCY": "2",
           "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, **FAST_FLUSH}
    with RuntimeServer(env) as server:
        yield server


@pytest.fixture(scope="module")
def healthy_latency(server: RuntimeServer) -> float:
    return statistics.median(timed_invocations(server, 3))


def test_ping_answers_within_five_seconds_of_start(server: RuntimeServer) -> None:
    assert server.ping_after_s is not None and server.ping_after_s < 5
    ping = server.ping()
    assert ping["status"] == "Healthy"
    assert ping["dropped_spans"] == 0
    assert isinstance(ping["time_of_last_update"], int)


def test_an_invocations_metrics_reach_the_otlp_endpoint_as_deltas(server: RuntimeServer, sink: OtlpSink) -> None:
    """The HTTP runtime exports the app's metrics beside its spans, to <endpoint>/v1/metrics."""
    from agentcreator.telemetry.instruments import ATTRIBUTES, INSTRUMENTS

    body = invoke(server).json()
    points = sink.wait_for_metrics(lambda points: sum(
        p["value"] for p in points if p["name"] == "agentcreator.invocations") >= 1, timeout=15)
    assert {p["name"] for p in points} >= set(INSTRUMENTS)
    for point in points:
        assert set(point["attributes"]) <= ATTRIBUTES, point
        assert point["resource"]["service.name"] == "agentcreator-meta-agent"
        assert point["temporality"] == "DELTA", point["name"]
        expected = ("histogram" if point["name"] in ("gen_ai.client.token.usage", "agentcreator.review.iterations")
                    else "exponential_histogram" if point["name"].endswith(".duration") else "sum")
        assert point["kind"] == expected, point["name"]
    calls = sum(p["count"] for p in points if p["name"] == "gen_ai.client.operation.duration")
    assert calls >= body["usage"]["llm_calls"] > 0


def test_invocation_returns_the_agent_its_trace_and_a_traceparent(server: RuntimeServer, sink: OtlpSink) -> None:
    response = invoke(server)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agent_id"] == "refund-agent.v1"
    assert {"plan", "code", "system_prompt"} <= set(body["agent"])
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"] > 0
    assert body["iterations"] and all(isinstance(n, int) and n >= 1 for n in body["iterations"].values())
    trace_id = body["trace_id"]
    header = TRACEPARENT.match(response.headers["traceparent"])
    assert header and header.group(1) == trace_id

    spans = sink.wait_for(lambda spans: complete_trace(spans, trace_id, body["usage"]["llm_calls"]))
    mine = [span for span in spans if span["trace_id"] == trace_id]
    root = next(span for span in mine if span["name"] == ROOT)
    assert root["span_id"] == header.group(2)
    assert root["parent_span_id"] is None
    assert root["status_code"] == "OK"
    assert root["resource"]["service.name"] == "agentcreator-meta-agent"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    llm = [span for span in mine if span["attributes"].get("openinference.span.kind") == "LLM"]
    assert llm and all(span["name"].startswith("chat ") and span["attributes"]["gen_ai.usage.cost"] > 0
                       for span in llm)
    assert body["usage"]["cost_usd"] == root["attributes"]["agentcreator.usage.cost_usd"] > 0
    assert all(span["attributes"]["session.id"] == "refund-agent.v1" for span in mine)
    assert all(span["attributes"]["user.id"] == "user-42" for span in mine)


def test_caller_traceparent_is_honoured_and_caller_baggage_ignored(server: RuntimeServer, sink: OtlpSink) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = invoke(server, payload(user_id=None), headers={
        "traceparent": f"00-{caller_trace}-{caller_span}-01",
        "baggage": "session.id=intruder,user.id=intruder,tenant=other",
    })
    assert response.status_code == 200, response.text
    assert response.json()["trace_id"] == caller_trace
    assert response.headers["traceparent"].startswith(f"00-{caller_trace}-")

    spans = sink.wait_for(lambda spans: complete_trace(spans, caller_trace, response.json()["usage"]["llm_calls"]))
    mine = [span for span in spans if span["trace_id"] == caller_trace]
    root = next(span for span in mine if span["name"] == ROOT)
    assert root["parent_span_id"] == caller_span
    assert all(span["attributes"]["session.id"] == "refund-agent.v1" for span in mine)
    assert not any("user.id" in span["attributes"] or "tenant" in span["attributes"] for span in mine)


_JSON = {"Content-Type": "application/json"}
_BIG = b'{"agent_id": "a", "sop": "' + b"x" * (1024 * 1024) + b'"}'
BAD_INPUTS = {
    "malformed JSON": ({"content": b'{"agent_id": ', "headers": _JSON}, 400, "malformed_json", None),
    "not UTF-8": ({"content": b'{"agent_id": "\xff"}', "headers": _JSON}, 400, "malformed_json", None),
    "text/plain": ({"content": json.dumps(payload()), "headers": {"Content-Type": "text/plain"}},
                   415, "unsupported_media_type", None),
    "no content type": ({"content": json.dumps(payload()).encode()}, 415, "unsupported_media_type", None),
    "over 1 MiB": ({"content": _BIG, "headers": _JSON}, 413, "payload_too_large", None),
    "over 1 MiB, chunked": ({"content": iter([_BIG[i:i + 65536] for i in range(0, len(_BIG), 65536)]),
                             "headers": _JSON}, 413, "payload_too_large", None),
    "not an object": ({"json": [payload()]}, 422, "validation_error", set()),
    "all fields missing": ({"json": {}}, 422, "validation_error", {"agent_id", "sop", "voice_personality"}),
    "bad agent_id": ({"json": payload(agent_id="refund agent/1")}, 422, "validation_error", {"agent_id"}),
    "agent_id too long": ({"json": payload(agent_id="a" * 129)}, 422, "validation_error", {"agent_id"}),
    "wrong types": ({"json": payload(agent_id=7, sop=["x"], user_id=3)}, 422, "validation_error",
                    {"agent_id", "sop", "user_id"}),
    "sop over 200 KB": ({"json": payload(sop="s" * (200 * 1024 + 1))}, 422, "validation_error", {"sop"}),
    "voice over 20 KB": ({"json": payload(voice_personality="v" * (20 * 1024 + 1))}, 422, "validation_error",
                         {"voice_personality"}),
    "empty sop": ({"json": payload(sop="  ")}, 422, "validation_error", {"sop"}),
    "unknown option": ({"json": payload(options={"temperature": 1})}, 422, "validation_error",
                       {"options.temperature"}),
    "real model chosen by client": ({"json": payload(options={"lm": "openai/gpt-4o"})}, 422, "validation_error",
                                    {"options.lm"}),
    "malformed offline options": ({"json": payload(options={"lm": "offline:bogus=1"})}, 422, "validation_error",
                                  {"options.lm"}),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_json_error(server: RuntimeServer, case: str) -> None:
    request, status, error, fields = BAD_INPUTS[case]
    response = httpx.post(server.url + "/invocations", timeout=30, **request)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    if fields is not None:
        assert set(body["fields"]) == fields
    assert "Traceback" not in response.text
    assert server.ping()["status"] == "Healthy"


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/invocations", 405), ("GET", "/nowhere", 404)])
def test_unknown_routes_answer_json(server: RuntimeServer, method: str, path: str, status: int) -> None:
    response = httpx.request(method, server.url + path, timeout=10)
    assert response.status_code == status
    assert response.json()["error"] in ("method_not_allowed", "not_found")


def test_over_the_concurrency_limit_gets_503_with_retry_after(server: RuntimeServer) -> None:
    results: list[httpx.Response] = []
    slow = payload(options={"lm": "offline:latency_ms=60"})
    threads = [in_background(server, slow, results) for _ in range(2)]
    assert wait_in_flight(server, 2)["status"] == "HealthyBusy"

    refused = invoke(server)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "busy"

    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results] == [200, 200]
    assert server.ping()["status"] == "Healthy"


def test_lm_failure_is_502_with_error_id_and_an_error_trace(server: RuntimeServer, sink: OtlpSink) -> None:
    response = invoke(server, payload(options={"lm": "offline:fail_stage=review_plan"}))
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "pipeline_failed"
    assert body["stage"] == "Review Plan"
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"]) and body["error_id"]
    assert "Traceback" not in response.text and "simulated" not in response.text

    spans = sink.wait_for(lambda spans: any(s["trace_id"] == body["trace_id"] and s["name"] == ROOT for s in spans))
    root = next(s for s in spans if s["trace_id"] == body["trace_id"] and s["name"] == ROOT)
    assert root["status_code"] == "ERROR"
    assert root["attributes"]["agentcreator.error_id"] == body["error_id"]
    review = sink.spans(trace_id=body["trace_id"], name="Review Plan")
    assert review and review[-1]["status_code"] == "ERROR"


def test_sigterm_lets_in_flight_invocations_finish_and_exports_their_spans() -> None:
    with OtlpSink() as sink, RuntimeServer({
        "AGENTCREATOR_LM": "offline:latency_ms=60", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "30000",  # nothing leaves before the shutdown flush
    }) as server:
        results: list[httpx.Response] = []
        threads = [in_background(server, payload(agent_id=f"agent-{i}"), results) for i in range(2)]
        wait_in_flight(server, 2)
        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/ping", timeout=2)  # no longer accepting
        for thread in threads:
            thread.join(60)
        assert server.wait() == 0, server.log()

    assert [r.status_code for r in results] == [200, 200]
    spans = sink.spans()
    for response in results:
        body = response.json()
        assert complete_trace(spans, body["trace_id"], body["usage"]["llm_calls"]), body["trace_id"]


def _drops_rise(server: RuntimeServer, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (dropped := server.ping()["dropped_spans"]) > 0:
            return dropped
        time.sleep(0.1)
    raise AssertionError("the drop counter did not rise")


def test_refusing_collector_does_not_slow_or_fail_invocations(healthy_latency: float) -> None:
    env = {"AGENTCREATOR_LM": "offline", "OTEL_EXPORTER_OTLP_ENDPOINT": refusing_endpoint(),
           "OTEL_EXPORTER_OTLP_TIMEOUT": "1", **FAST_FLUSH}
    with RuntimeServer(env) as server:
        latency = statistics.median(timed_invocations(server, 3))
        assert latency < 2 * healthy_latency + 0.5, (latency, healthy_latency)
        assert _drops_rise(server) > 0
        assert server.ping()["status"] == "Healthy"
        server.terminate()
        assert server.wait() == 0
        # the log, which reaches CloudWatch Logs without the collector, says what was lost
        assert re.search(r"spans dropped since start: \d+ with the queue full, [1-9]\d* in failed exports",
                         server.log()), server.log()


def test_black_holed_collector_does_not_slow_or_fail_invocations(healthy_latency: float) -> None:
    with black_hole() as endpoint, RuntimeServer({
        "AGENTCREATOR_LM": "offline", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "10",  # exports hang this long; requests must not notice
        "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "32", **FAST_FLUSH,
    }) as server:
        latency = statistics.median(timed_invocations(server, 3))
        assert latency < 2 * healthy_latency + 0.5, (latency, healthy_latency)
        assert _drops_rise(server) > 0  # the queue is full: spans are dropped, memory stays bounded
        server.kill()


def test_invocation_cut_off_by_the_grace_period_gets_503_and_the_process_still_exits_0() -> None:
    with RuntimeServer({"AGENTCREATOR_LM": "offline:latency_ms=300", "AGENTCREATOR_SHUTDOWN_GRACE_S": "1"}) as server:
        results: list[httpx.Response] = []
        thread = in_background(server, payload(), results)
        wait_in_flight(server, 1)
        started = time.monotonic()
        server.terminate()
        assert server.wait() == 0, server.log()
        assert time.monotonic() - started < 5
        thread.join(10)
    assert results[0].status_code == 503
    assert results[0].json()["error"] == "shutting_down"
    assert results[0].headers["Retry-After"] == "1"


def test_the_sandbox_isolation_is_logged_at_start_and_shown_on_ping(server: RuntimeServer) -> None:
    deadline = time.monotonic() + 60  # the warm-up starts the sandbox after importing DSPy
    while not (sandbox := server.ping()["sandbox"])["layers"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "refused" not in sandbox, sandbox
    assert {"non_dumpable", "seccomp"} <= set(sandbox["layers"])
    logged = [line for line in server.log().splitlines() if "sandbox isolation:" in line]
    assert len(logged) == 1 and ", ".join(sandbox["layers"]) in logged[0]
