"""The standard OTLP exporter variables, as the exporter really sends: to a local OTLP/HTTP and an
OTLP/gRPC sink, the signal-specific ``OTEL_EXPORTER_OTLP_TRACES_*`` over the generic ones."""

from __future__ import annotations

import os

import pytest

from tests.support.dead_endpoints import refusing_endpoint
from tests.support.otlp_sink import GrpcOtlpSink, OtlpSink
from tests.unit.conftest import run_pipeline

pytestmark = pytest.mark.slow


def _export(monkeypatch, env: dict[str, str]) -> None:
    for name, value in env.items():  # in the process environment: the SDK reads its variables there
        monkeypatch.setenv(name, value)
    run = run_pipeline("offline", dict(os.environ))
    assert run.error is None


def _complete(sink: OtlpSink) -> list[dict]:
    spans = sink.wait_for(lambda s: any(x["name"] == "AgentCreator Invocation" for x in s))
    assert len({span["trace_id"] for span in spans}) == 1
    assert {"Parse SOP", "Draft Plan", "Generate Prompt"} <= {span["name"] for span in spans}
    return spans


def test_traces_endpoint_headers_and_compression_win_over_the_generic_ones(monkeypatch) -> None:
    with OtlpSink() as sink:
        _export(monkeypatch, {
            "OTEL_EXPORTER_OTLP_ENDPOINT": refusing_endpoint(),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.traces_url,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-who=generic,x-generic-only=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-who=traces",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        })
        _complete(sink)
    headers = sink.headers[0]
    assert headers["x-who"] == "traces" and "x-generic-only" not in headers
    assert headers["content-encoding"] == "gzip"


def test_the_traces_protocol_variable_picks_grpc(monkeypatch) -> None:
    with GrpcOtlpSink() as sink:
        _export(monkeypatch, {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-who=traces",
        })
        spans = _complete(sink)
    assert sink.headers[0]["x-who"] == "traces"
    assert spans[0]["resource"]["service.name"] == "agentcreator-meta-agent"
