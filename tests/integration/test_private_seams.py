"""Each private seam of a dependency we lean on, broken on purpose: the service still starts,
logs one warning naming the seam, and a local OTLP receiver gets the complete trace, a cut
non-ASCII ``input.value`` included, exactly as the SDK's own path would send it."""

from __future__ import annotations

import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.support.otlp_sink import GrpcOtlpSink, OtlpSink
from tests.unit.conftest import SOP, run_pipeline

pytestmark = pytest.mark.slow

NON_ASCII_SOP = "Réponds à l’appelant — vérifie la commande n° 42, s’il te plaît.\n" * 200 + SOP  # ~14 KB


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each seam warns once per process: let every test see its own warning."""
    from agentcreator.pipeline import lm_hooks
    from agentcreator.telemetry import otlp_encoding, seams

    monkeypatch.setattr(seams, "_warned", set())
    otlp_encoding.uninstall()
    lm_hooks.uninstall()
    yield
    otlp_encoding.uninstall()
    lm_hooks.uninstall()


def _export_complete_trace(sink: OtlpSink, env: dict[str, str] | None = None) -> None:
    """Run the pipeline once into ``sink`` and check that the trace arrived whole: every span the
    local exporter saw, with the same (cut, non-ASCII) attribute values."""
    settings = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "AGENTCREATOR_MAX_CONTENT_BYTES": "8192", **(env or {})}
    run = run_pipeline("offline", settings, sop=NON_ASCII_SOP)
    assert run.error is None
    local = {format(span.context.span_id, "016x"): span for span in run.spans}
    received = {span["span_id"]: span for span in sink.wait_for(lambda spans: len(spans) >= len(local))}
    assert received.keys() == local.keys()
    cut = 0
    for span_id, span in local.items():
        assert received[span_id]["name"] == span.name
        assert received[span_id]["attributes"] == dict(span.attributes)
        value = span.attributes.get("input.value", "")
        cut += "…[truncated" in value and "Réponds à l’appelant" in value
    assert cut >= 1  # a cut, non-ASCII input.value arrived intact


def _one_warning(caplog, seam: str) -> None:
    assert sum(seam in record.getMessage() for record in caplog.records) == 1, caplog.text


def test_all_seams_in_place_export_the_same_complete_trace(caplog) -> None:
    from agentcreator.telemetry import otlp_encoding

    with caplog.at_level(logging.WARNING), OtlpSink() as sink:
        _export_complete_trace(sink)
        assert otlp_encoding.installed() is False  # shutdown put the SDK's encoder back
    assert "seam" not in caplog.text and "moved" not in caplog.text


def test_the_sdks_internal_encoders_gone(monkeypatch, caplog) -> None:
    from agentcreator.telemetry import otlp_encoding

    monkeypatch.setattr(otlp_encoding, "HELPERS_FOUND", False)
    with caplog.at_level(logging.WARNING), OtlpSink() as sink:
        _export_complete_trace(sink)
    _one_warning(caplog, "_internal encoders")


def test_the_sdks_internal_encoders_gone_over_grpc(monkeypatch, caplog) -> None:
    from agentcreator.telemetry import otlp_encoding

    monkeypatch.setattr(otlp_encoding, "HELPERS_FOUND", False)
    with caplog.at_level(logging.WARNING), GrpcOtlpSink() as sink:
        _export_complete_trace(sink, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    _one_warning(caplog, "_internal encoders")


def test_an_import_of_the_internal_encoders_that_fails_does_not_stop_the_service() -> None:
    """As after an upgrade that moved them: the module imports, and says it will not be used."""
    code = ("import sys; sys.modules['opentelemetry.exporter.otlp.proto.common._internal.trace_encoder'] = None\n"
            "from agentcreator.telemetry import otlp_encoding\n"
            "assert otlp_encoding.HELPERS_FOUND is False and otlp_encoding.install() is False\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert done.stderr.count("_internal encoders moved") == 1


def test_the_http_exporter_no_longer_calling_its_modules_encode_spans(monkeypatch, caplog) -> None:
    """An exporter whose ``export`` encodes with what it imported itself, not the module's name."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    original = OTLPSpanExporter.export
    own_globals = {**original.__globals__, "encode_spans": encode_spans}
    monkeypatch.setattr(OTLPSpanExporter, "export", types.FunctionType(original.__code__, own_globals, "export"))
    from agentcreator.telemetry import otlp_encoding

    assert otlp_encoding.install() is False  # checked, not assumed
    with caplog.at_level(logging.WARNING), OtlpSink() as sink:
        _export_complete_trace(sink)
    _one_warning(caplog, "trace_exporter.encode_spans")


def test_dspys_retry_functions_gone(monkeypatch, caplog) -> None:
    from dspy.clients import execution

    from agentcreator.pipeline import lm_hooks

    monkeypatch.delattr(execution, "_delay")
    with caplog.at_level(logging.WARNING), OtlpSink() as sink:
        _export_complete_trace(sink)
    assert not lm_hooks.installed()
    _one_warning(caplog, "dspy.clients.execution")


def test_our_retry_wrapper_failing_leaves_dspys_wait(monkeypatch, caplog) -> None:
    from dspy.clients import execution

    from agentcreator.pipeline import lm_hooks

    original = execution._delay
    assert lm_hooks.install(5.0)
    monkeypatch.setattr(lm_hooks, "_bounded", lambda *args: 1 / 0)  # as if DSPy passed something else
    with caplog.at_level(logging.WARNING):
        assert execution._delay(RuntimeError("throttled"), 0) == original(RuntimeError("throttled"), 0)
        execution._delay(RuntimeError("throttled"), 1)
    _one_warning(caplog, "dspy.clients.execution")
