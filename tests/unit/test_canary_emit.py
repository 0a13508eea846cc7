"""The canary leaves through the app's real telemetry path and arrives marked, at a real OTLP receiver."""

from __future__ import annotations

import logging

import pytest

from agentcreator import telemetry
from agentcreator.canary import CANARY_ATTRIBUTE, CanarySchedule, emit_canary
from agentcreator.canary.emit import PROBE_NAME, ROOT_NAME
from agentcreator.canary.readback import canaries_in
from agentcreator.cli import main
from agentcreator.config import ConfigError, load_settings
from tests.support.otlp_sink import OtlpSink


@pytest.fixture
def sink():
    with OtlpSink() as receiver:
        yield receiver
    telemetry.shutdown(timeout_s=2)


def _send_one(sink: OtlpSink, caplog) -> tuple[object, list[dict]]:
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "ENVIRONMENT": "dev"})
    telemetry.configure_tracing(settings, instrument_dspy=False)
    with caplog.at_level(logging.INFO, logger="agentcreator.canary.emit"):
        canary = emit_canary(settings)
    assert telemetry.shutdown(timeout_s=5)
    return canary, sink.spans(trace_id=canary.trace_id)


def test_the_canary_arrives_at_the_receiver_as_a_marked_two_span_trace(sink, caplog):
    canary, spans = _send_one(sink, caplog)
    assert sorted(span["name"] for span in spans) == sorted([PROBE_NAME, ROOT_NAME])
    root = next(span for span in spans if span["name"] == ROOT_NAME)
    probe = next(span for span in spans if span["name"] == PROBE_NAME)
    assert root["parent_span_id"] is None  # a trace of its own, never under a caller's span
    assert probe["parent_span_id"] == root["span_id"]
    for span in spans:
        assert span["attributes"][CANARY_ATTRIBUTE] is True
        # copied from baggage by the same processor that labels invocations
        assert span["attributes"]["session.id"] == "agentcreator-canary-dev" == canary.session_id
        assert span["resource"]["deployment.environment"] == "dev"
        assert span["resource"]["service.name"] == "agentcreator-meta-agent"
        # nothing that an agent, token or cost view would count
        assert not [key for key in span["attributes"] if key.startswith(("gen_ai.", "llm.", "openinference."))]
    assert root["attributes"]["langfuse.trace.tags"] == ["canary"]
    assert root["end_ns"] / 1e9 <= canary.emitted_at


def test_the_log_line_names_the_trace_the_checker_will_look_for(sink, caplog):
    canary, _ = _send_one(sink, caplog)
    lines = [record.getMessage() for record in caplog.records if "canary emitted" in record.getMessage()]
    assert len(lines) == 1
    [logged] = canaries_in(lines)
    assert (logged.trace_id, logged.session_id) == (canary.trace_id, canary.session_id)
    assert logged.emitted_at == pytest.approx(canary.emitted_at, abs=0.001)


def test_the_schedule_emits_until_stopped(sink, monkeypatch):
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within 0.1 s, not the SDK's 5 s
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "ENVIRONMENT": "dev"})
    telemetry.configure_tracing(settings, instrument_dspy=False)
    schedule = CanarySchedule(settings, interval_s=0.2, first_delay_s=0.0)
    schedule.start()
    roots = sink.wait_for(lambda spans: len([s for s in spans if s["name"] == ROOT_NAME]) >= 2, timeout=15)
    schedule.stop()
    assert len({span["trace_id"] for span in roots if span["name"] == ROOT_NAME}) >= 2


def test_the_interval_is_off_by_default_and_validated():
    assert load_settings({}).canary_interval_s == 0
    assert load_settings({"AGENTCREATOR_CANARY_INTERVAL_S": "300"}).canary_interval_s == 300
    with pytest.raises(ConfigError, match="AGENTCREATOR_CANARY_INTERVAL_S=5 must be 0 .off. or at least 10"):
        load_settings({"AGENTCREATOR_CANARY_INTERVAL_S": "5"})


def test_canary_send_prints_the_trace_to_check(sink, monkeypatch, capsys):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    assert main(["canary", "send", "--env", "staging"]) == 0
    out = capsys.readouterr().out
    [root] = sink.spans(name=ROOT_NAME)
    assert f"sent canary trace {root['trace_id']} (session agentcreator-canary-staging)" in out
    assert f"agentcreator canary check --env staging --trace-id {root['trace_id']} --sent-at " in out


def test_canary_send_says_so_when_the_receiver_refuses(sink, monkeypatch, capsys):
    sink.respond_with(400)  # not retried by the exporter: fails at once
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    assert main(["canary", "send"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"agentcreator canary send: not sent to {sink.traces_url}: 2 span(s) failed to export")


def test_canary_send_without_an_endpoint_is_a_usage_error(capsys):
    assert main(["canary", "send"]) == 2
    assert "no OTLP endpoint is configured" in capsys.readouterr().err


def test_the_server_sends_canaries_only_when_the_interval_is_set(sink, monkeypatch):
    from agentcreator.canary import emit
    from agentcreator.runtime.app import Runtime

    monkeypatch.setattr(emit, "_FIRST_DELAY_S", 0.0)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    quiet = Runtime(load_settings({}), warm=False)
    quiet.start()
    quiet.stop()
    assert quiet._canary is None
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "AGENTCREATOR_CANARY_INTERVAL_S": "10"})
    telemetry.configure_tracing(settings, instrument_dspy=False)
    runtime = Runtime(settings, warm=False)
    runtime.start()
    try:
        spans = sink.wait_for(lambda found: any(s["name"] == ROOT_NAME for s in found), timeout=15)
    finally:
        runtime.stop()
    assert [s["attributes"][CANARY_ATTRIBUTE] for s in spans if s["name"] == ROOT_NAME] == [True]
