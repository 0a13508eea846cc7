"""The app's metrics: GenAI client metrics and ours, their attributes, and what does not count."""

from __future__ import annotations

from collections import Counter

import pytest

from agentcreator.telemetry.instruments import ATTRIBUTES, INSTRUMENTS, SPANS_DROPPED
from tests.unit.conftest import metric_points, run_pipeline


def _points(run, name: str) -> list:
    return [(attributes, point) for metric, attributes, point in run.metrics if metric == name]


def _sum(run, name: str, **attributes: str) -> float:
    """Counter values, or histogram sums, of the points whose attributes include ``attributes``."""
    total = 0.0
    for point_attributes, point in _points(run, name):
        if all(point_attributes.get(key.replace("__", ".")) == value for key, value in attributes.items()):
            total += point.value if hasattr(point, "value") else point.sum
    return total


def _count(run, name: str) -> int:
    return sum(point.count for _, point in _points(run, name))


@pytest.fixture(scope="module")
def run():
    return run_pipeline("offline:plan_rejections=4,code_rejections=3")


def test_every_instrument_records_in_a_full_run(run) -> None:
    assert run.error is None
    # spans go to a local exporter here, synchronously: no queue, nothing to drop, no drop count
    assert {name for name, _, _ in run.metrics} == set(INSTRUMENTS) - {SPANS_DROPPED}


def test_attributes_are_the_low_cardinality_ones_only(run) -> None:
    for name, attributes, _ in run.metrics:
        assert set(attributes) <= ATTRIBUTES, (name, attributes)
        assert "agent-123" not in attributes.values() and "user-456" not in attributes.values()


def test_llm_calls_and_tokens_match_the_spans_and_the_result(run) -> None:
    llm = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert _count(run, "gen_ai.client.operation.duration") == len(llm) == run.result.usage["llm_calls"]
    for attributes, _ in _points(run, "gen_ai.client.operation.duration"):
        assert attributes == {"gen_ai.operation.name": "chat",
                              "gen_ai.provider.name": "agentcreator.offline (simulated)",
                              "gen_ai.request.model": "agentcreator-simulated"}
    assert _sum(run, "gen_ai.client.token.usage", gen_ai__token__type="input") == run.result.usage["input_tokens"]
    assert _sum(run, "gen_ai.client.token.usage", gen_ai__token__type="output") == run.result.usage["output_tokens"]
    assert _count(run, "gen_ai.client.token.usage") == 2 * len(llm)


def test_the_invocation_its_duration_cost_and_review_loops(run) -> None:
    assert _sum(run, "agentcreator.invocations", agentcreator__outcome="success") == 1
    (duration,) = _points(run, "gen_ai.invoke_agent.duration")
    assert duration[0]["gen_ai.agent.name"] == "AgentCreator" and "error.type" not in duration[0]
    assert duration[1].count == 1 and 0 < duration[1].sum <= run.result.duration_ms / 1000 + 0.01
    assert _sum(run, "agentcreator.usage.cost") == pytest.approx(run.result.usage["cost_usd"], abs=1e-8)
    loops = {(a["agentcreator.stage"], a["agentcreator.outcome"]): (p.count, p.sum)
             for a, p in _points(run, "agentcreator.review.iterations")}
    assert loops == {("plan", "exhausted"): (1, 4), ("code", "exhausted"): (1, 3)}


def test_sandbox_runs_by_outcome_one_per_tool_span(run) -> None:
    tools = [s for s in run.spans if s.name == "Code Interpreter Tool"]
    assert _sum(run, "agentcreator.sandbox.runs", agentcreator__outcome="ok") == len(tools) == 3
    assert _count(run, "gen_ai.execute_tool.duration") == len(tools)
    for attributes, _ in _points(run, "gen_ai.execute_tool.duration"):
        assert attributes == {"gen_ai.tool.name": "code_interpreter"}


def test_approved_loops_say_so() -> None:
    approved = run_pipeline("offline:plan_rejections=1,code_rejections=0")
    loops = {(a["agentcreator.stage"], a["agentcreator.outcome"]): p.sum
             for a, p in _points(approved, "agentcreator.review.iterations")}
    assert loops == {("plan", "approved"): 2, ("code", "approved"): 1}


def test_a_failed_invocation_counts_as_an_error_with_its_error_type() -> None:
    failed = run_pipeline("offline:plan_rejections=1,fail_stage=review_plan")
    assert failed.error is not None
    assert _sum(failed, "agentcreator.invocations", agentcreator__outcome="error") == 1
    assert _sum(failed, "agentcreator.invocations", agentcreator__outcome="success") == 0
    (duration,) = _points(failed, "gen_ai.invoke_agent.duration")
    root = next(s for s in failed.spans if s.parent is None)
    error_type = duration[0]["error.type"]  # the class of what failed, as the root's status names it
    assert root.status.description == f"Review Plan failed: {error_type}"
    errors = [a for a, _ in _points(failed, "gen_ai.client.operation.duration") if "error.type" in a]
    assert [a["error.type"] for a in errors] == [error_type]
    assert not _points(failed, "agentcreator.review.iterations")  # no loop ended
    assert _sum(failed, "agentcreator.usage.cost") > 0  # the calls made before the failure were paid for


def test_traces_sampled_out_still_count(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")  # the SDK reads it itself
    unsampled = run_pipeline("offline")
    assert unsampled.spans == []
    assert _sum(unsampled, "agentcreator.invocations", agentcreator__outcome="success") == 1
    assert _count(unsampled, "gen_ai.client.operation.duration") == unsampled.result.usage["llm_calls"] > 0


def test_canary_traces_record_no_metric() -> None:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentcreator import telemetry
    from agentcreator.canary.emit import emit_canary
    from agentcreator.config import load_settings

    settings = load_settings({})
    reader = InMemoryMetricReader()
    telemetry.configure_tracing(settings, extra_metric_readers=[reader])
    try:
        for _ in range(3):
            emit_canary(settings)
        assert metric_points(reader) == []
    finally:
        telemetry.shutdown(timeout_s=5)


def test_sdk_disabled_installs_no_meter_provider() -> None:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from agentcreator.telemetry import metrics

    reader = InMemoryMetricReader()
    telemetry.configure_tracing(load_settings({"OTEL_SDK_DISABLED": "true"}), extra_metric_readers=[reader])
    try:
        assert metrics.meter_provider() is None
        telemetry.app_metrics().invocation("offline", 1.0)
        assert metric_points(reader) == []
    finally:
        telemetry.shutdown(timeout_s=5)


def test_no_reader_no_provider_and_the_instruments_are_no_ops() -> None:
    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from agentcreator.telemetry import metrics

    telemetry.configure_tracing(load_settings({}))
    try:
        assert metrics.meter_provider() is None
        telemetry.app_metrics().tokens("offline", 1, 2)  # records nothing, raises nothing
    finally:
        telemetry.shutdown(timeout_s=5)


def test_instrument_kinds_and_units_follow_the_conventions() -> None:
    assert INSTRUMENTS["gen_ai.client.operation.duration"][:2] == ("histogram", "s")
    assert INSTRUMENTS["gen_ai.client.token.usage"][:2] == ("histogram", "{token}")
    assert INSTRUMENTS["gen_ai.invoke_agent.duration"][:2] == ("histogram", "s")
    assert INSTRUMENTS["gen_ai.execute_tool.duration"][:2] == ("histogram", "s")
    assert INSTRUMENTS[SPANS_DROPPED][:2] == ("observable_counter", "{span}")
    assert Counter(kind for kind, _, _ in INSTRUMENTS.values()) == {"histogram": 5, "counter": 3,
                                                                    "observable_counter": 1}


def test_spans_dropped_on_the_way_to_the_collector_are_counted_by_reason_as_deltas(monkeypatch) -> None:
    """An endpoint that takes the metrics but refuses the spans: each lost span is counted under
    ``error.type``, in delta points (several workers of a task add up in CloudWatch), zero
    included while nothing is lost, and the points add up to ``/ping``'s count."""
    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from tests.support.otlp_sink import OtlpSink

    def _dropped(points, reason: str | None = None) -> int:
        return sum(p["value"] for p in points
                   if p["name"] == SPANS_DROPPED and reason in (None, p["attributes"]["error.type"]))

    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")  # the SDK reads both from the environment itself
    with OtlpSink() as sink:
        telemetry.configure_tracing(load_settings({
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint + "/v1/refused"}))  # answered 404
        try:
            before = telemetry.dropped_span_count()  # earlier tests' drops: the count is the process's
            for index in range(3):
                telemetry.get_tracer().start_span(f"lost-{index}").end()
            sink.wait_for_metrics(lambda points: _dropped(points) >= before + 3, timeout=10)
        finally:
            telemetry.shutdown(timeout_s=5)  # collects once more
    points = sink.metric_points(SPANS_DROPPED)
    assert sink.requests >= 1 and sink.spans() == []  # the spans were sent, and refused
    assert telemetry.dropped_span_count() == before + 3
    assert _dropped(points) == before + 3  # deltas: every loss counted once
    assert _dropped(points, "export_failed") >= 3
    assert {(p["kind"], p["temporality"], p["unit"]) for p in points} == {("sum", "DELTA", "{span}")}
    assert {frozenset(p["attributes"].items()) for p in points} >= {
        frozenset({("error.type", "queue_full")}), frozenset({("error.type", "export_failed")})}
    assert all(set(p["attributes"]) == {"error.type"} for p in points)


# Deferred recording: the request path queues, a collection feeds the queue in


def _configured(env: dict[str, str] | None = None):
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentcreator import telemetry
    from agentcreator.config import load_settings

    reader = InMemoryMetricReader()
    telemetry.configure_tracing(load_settings(env or {}), extra_metric_readers=[reader])
    return telemetry.app_metrics(), reader


def test_records_are_queued_until_a_collection_and_land_in_it() -> None:
    from agentcreator import telemetry

    instruments, reader = _configured()
    try:
        instruments.llm_call("offline", 0.25)
        instruments.tokens("offline", 10, 3)
        assert instruments.flush_pending() == 3  # they were queued, not yet in the SDK
        instruments.llm_call("offline", 0.5)
        first = metric_points(reader)  # the collection feeds the queued one in first
        second = metric_points(reader)
    finally:
        telemetry.shutdown(timeout_s=5)
    durations = [point for name, _, point in first if name == "gen_ai.client.operation.duration"]
    assert [(point.count, point.sum) for point in durations] == [(2, 0.75)]
    assert {name for name, _, _ in first} == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
    # this reader is cumulative: a second collection, with nothing new queued, counts the same two
    assert [(p.count, p.sum) for name, _, p in second if name == "gen_ai.client.operation.duration"] == [(2, 0.75)]


def test_a_long_queue_is_fed_in_a_chunk_at_a_time_by_the_requests_that_add_to_it(monkeypatch) -> None:
    from agentcreator import telemetry
    from agentcreator.telemetry import instruments as module

    monkeypatch.setattr(module, "PENDING_LIMIT", 4)
    monkeypatch.setattr(module, "FLUSH_CHUNK", 2)
    instruments, reader = _configured()
    try:
        for seconds in (0.1, 0.2, 0.3, 0.4, 0.5):
            instruments.llm_call("offline", seconds)
        # the fifth record took the queue past 4: it fed in the oldest two, and three wait
        assert instruments.flush_pending(most=1) == 1
        assert instruments.flush_pending() == 2
        fed = [(p.count, p.min, p.max) for name, _, p in metric_points(reader)
               if name == "gen_ai.client.operation.duration"]
    finally:
        telemetry.shutdown(timeout_s=5)
    assert fed == [(5, 0.1, 0.5)]


def test_records_from_many_threads_during_collections_are_each_counted_once() -> None:
    import threading

    from agentcreator import telemetry

    instruments, reader = _configured()
    threads, per_thread = 4, 3000
    try:
        workers = [threading.Thread(target=lambda: [instruments.tokens("offline", 1, 1) for _ in range(per_thread)])
                   for _ in range(threads)]
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            metric_points(reader)  # collections racing the records
        for worker in workers:
            worker.join()
        collected = metric_points(reader)  # cumulative: the last collection holds every record
    finally:
        telemetry.shutdown(timeout_s=5)
    assert sum(point.count for name, _, point in collected if name == "gen_ai.client.token.usage") == (
        2 * threads * per_thread)


def test_with_exemplars_asked_for_records_are_made_at_once(monkeypatch) -> None:
    """An exemplar is taken from the span current at the record, so nothing waits for a collection."""
    from agentcreator import telemetry

    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based")
    instruments, reader = _configured()
    try:
        instruments.llm_call("offline", 0.25)
        assert instruments.flush_pending() == 0
        assert [name for name, _, _ in metric_points(reader)] == ["gen_ai.client.operation.duration"]
    finally:
        telemetry.shutdown(timeout_s=5)
