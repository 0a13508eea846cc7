"""``agentcreator doctor`` against real local servers: one that accepts, one that wants other
credentials, one with no receiver at the path, one that never answers, and a closed port."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentcreator.cli import main
from tests.support.dead_endpoints import black_hole, refusing_endpoint
from tests.support.otlp_sink import GrpcOtlpSink, OtlpSink

pytestmark = pytest.mark.slow

SECRET = "sk-lf-not-to-be-printed"


def doctor(capsys: pytest.CaptureFixture[str], *extra: str, health_url: str | None = None) -> tuple[int, dict]:
    """Run the command in-process with --json; returns the exit code and the checks by name."""
    code = main(["doctor", "--json", "--timeout", "1", "--health-url", health_url or refusing_endpoint(), *extra])
    out = capsys.readouterr().out
    assert SECRET not in out
    return code, {check["name"]: check for check in json.loads(out)}


@pytest.fixture
def sink():
    with OtlpSink() as server:
        yield server


@pytest.fixture
def health_server():
    """The ADOT health_check extension's answer, on an ephemeral port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"status":"Server available","upSince":"2026-01-01T00:00:00Z","uptime":"1s"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_receiver_that_accepts_passes_every_check(sink, health_server, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    code, checks = doctor(capsys, health_url=health_server)
    assert code == 0
    assert {name: check["status"] for name, check in checks.items()} == {
        "settings": "ok", "endpoint": "ok", "langfuse": "skip", "dns": "ok", "tcp": "ok", "export": "ok",
        "instrumentation": "ok", "collector": "ok", "metrics": "ok",
    }
    assert sink.traces_url in checks["endpoint"]["detail"] and "normalized" in checks["endpoint"]["detail"]
    assert "HTTP 200" in checks["export"]["detail"]
    assert sink.requests == 1 and sink.spans() == []  # one real, empty export request
    assert f"{sink.endpoint}/v1/metrics" in checks["metrics"]["detail"]
    assert sink.metric_requests == 1 and sink.metric_points() == []  # and one to the metrics endpoint
    assert "Server available" in checks["collector"]["detail"]


def test_a_local_receiver_without_a_collector_health_check_is_not_a_failure(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.traces_url)  # the full-URL form is accepted too
    code, checks = doctor(capsys)
    assert code == 0
    assert checks["collector"]["status"] == "skip" and "not an ADOT collector" in checks["collector"]["detail"]


def test_bearer_against_401_points_to_basic_auth_and_never_prints_the_token(sink, capsys, monkeypatch):
    sink.respond_with(401)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {SECRET}")
    code, checks = doctor(capsys)
    assert code == 1
    export = checks["export"]
    assert export["status"] == "fail" and "HTTP 401" in export["detail"] and "authorization" in export["detail"]
    assert "Bearer" in export["advice"] and "Basic%20" in export["advice"]
    assert "base64 of public_key:secret_key" in export["advice"]


def test_401_without_any_authorization_header_says_none_was_sent(sink, capsys, monkeypatch):
    sink.respond_with(403)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    code, checks = doctor(capsys)
    assert code == 1
    assert "HTTP 403" in checks["export"]["detail"]
    assert "no Authorization header was sent" in checks["export"]["advice"]


def test_404_shows_the_path_tried_and_the_base_url_form(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint + "/otel")
    code, checks = doctor(capsys)
    assert code == 1
    assert "HTTP 404" in checks["export"]["detail"] and "/otel/v1/traces" in checks["export"]["detail"]
    assert "base URL" in checks["export"]["advice"]


def test_404_from_v1_traces_given_twice_names_that_mistake(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", sink.traces_url + "/v1/traces")
    code, checks = doctor(capsys)
    assert code == 1
    assert "/v1/traces/v1/traces" in checks["export"]["detail"]
    assert "/v1/traces twice" in checks["export"]["advice"]


def test_a_server_that_never_answers_times_out(capsys, monkeypatch):
    with black_hole() as url:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
        code, checks = doctor(capsys)
    assert code == 1
    assert checks["tcp"]["status"] == "ok"  # the kernel accepts the connection
    assert checks["export"]["status"] == "fail" and "no answer" in checks["export"]["detail"]
    assert "--timeout" in checks["export"]["advice"]
    assert checks["collector"]["status"] == "fail"


def test_a_closed_port_is_connection_refused(capsys, monkeypatch):
    url = refusing_endpoint()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    code, checks = doctor(capsys)
    assert code == 1
    port = url.rsplit(":", 1)[1]
    for name in ("tcp", "export"):
        assert checks[name]["status"] == "fail"
        assert f"connection refused by 127.0.0.1:{port}" in checks[name]["detail"]
        assert "nothing listens" in checks[name]["advice"]


def test_no_endpoint_fails_with_what_to_set(capsys):
    code, checks = doctor(capsys)
    assert code == 1
    assert checks["endpoint"]["status"] == "fail" and "OTEL_EXPORTER_OTLP_ENDPOINT" in checks["endpoint"]["advice"]
    assert checks["export"]["status"] == "skip"


def test_a_bad_variable_fails_the_settings_check_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    code, checks = doctor(capsys)
    assert code == 1
    assert checks["settings"]["status"] == "fail" and "OTEL_EXPORTER_OTLP_PROTOCOL" in checks["settings"]["detail"]
    assert checks["instrumentation"]["status"] == "skip"


def test_the_command_prints_one_verdict_per_check_and_exits_1_on_a_closed_port():
    """The real CLI as a user runs it: readable lines, the connection problem named, exit code 1."""
    url = refusing_endpoint()
    env = {"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OTEL_EXPORTER_OTLP_ENDPOINT": url,
           "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {SECRET}"}
    done = subprocess.run(
        [sys.executable, "-m", "agentcreator.cli", "doctor", "--timeout", "1", "--health-url", refusing_endpoint()],
        env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["FAIL", "tcp"] and "connection refused" in line for line in lines)
    assert any(line.split()[:2] == ["ok", "settings"] and "authorization" in line for line in lines)
    assert any(line.split()[:2] == ["FAIL", "metrics"] and "connection refused" in line for line in lines)
    assert SECRET not in done.stdout + done.stderr
    assert lines[-1] == "4 checks failed"


def test_the_probe_sends_what_the_exporter_resolves_from_the_traces_variables(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", refusing_endpoint())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", sink.traces_url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-who=generic")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"authorization=Basic%20{SECRET},x-who=traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # metrics would go to the generic (refusing) endpoint
    code, checks = doctor(capsys)
    assert code == 0, checks
    assert sink.requests == 1
    sent = sink.headers[0]
    assert sent["x-who"] == "traces" and sent["authorization"] == f"Basic {SECRET}"
    assert sent["content-encoding"] == "gzip"
    detail = checks["export"]["detail"]
    assert sink.traces_url in detail and "authorization" in detail and "compression gzip" in detail
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in checks["endpoint"]["detail"]


def test_a_ca_certificate_variable_is_what_the_probe_verifies_with(sink, capsys, monkeypatch, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint.replace("http://", "https://"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(missing))
    code, checks = doctor(capsys)
    assert code == 1
    export = checks["export"]
    assert export["status"] == "fail" and str(missing) in export["detail"] and "CERTIFICATE" in export["advice"]


def test_grpc_is_probed_over_grpc_and_shown_as_host_and_port(capsys, monkeypatch):
    with GrpcOtlpSink() as grpc_sink:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_sink.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-who=traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
        code, checks = doctor(capsys)
    assert code == 0, checks
    assert grpc_sink.requests == 1 and grpc_sink.headers[0]["x-who"] == "traces"
    assert grpc_sink.metric_requests == 1 and "OTLP/gRPC" in checks["metrics"]["detail"]
    host_port = grpc_sink.endpoint.removeprefix("http://")
    for name in ("endpoint", "export"):
        assert host_port in checks[name]["detail"] and "/v1/traces" not in checks[name]["detail"]
    assert "OTLP/gRPC" in checks["endpoint"]["detail"]


def test_langfuse_keys_with_another_endpoint_warn_and_are_not_sent(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-fake")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET)
    code, checks = doctor(capsys)
    assert code == 0  # a warning, not a failure: the export itself works
    assert checks["langfuse"]["status"] == "warn" and "127.0.0.1" in checks["langfuse"]["detail"]
    assert "authorization" not in sink.headers[0]


def test_sdk_disabled_is_named(capsys, monkeypatch, sink):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    code, checks = doctor(capsys)
    assert code == 1 and "OTEL_SDK_DISABLED" in checks["endpoint"]["detail"]
    assert checks["export"]["status"] == checks["instrumentation"]["status"] == "skip" and sink.requests == 0


def test_doctor_says_when_metrics_would_be_lost_or_have_nowhere_to_go(sink, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{sink.endpoint}/not-metrics")
    _, checks = doctor(capsys)
    assert checks["export"]["status"] == "ok"
    metrics = checks["metrics"]
    assert metrics["status"] == "warn" and "HTTP 404" in metrics["detail"]
    assert "take traces only" in metrics["advice"]
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    _, checks = doctor(capsys)
    assert checks["metrics"]["status"] == "skip"
    monkeypatch.delenv("OTEL_METRICS_EXPORTER")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-fake")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-fake")
    monkeypatch.setenv("LANGFUSE_HOST", sink.endpoint)
    _, checks = doctor(capsys)
    assert checks["metrics"]["status"] == "warn" and "Langfuse" in checks["metrics"]["detail"]
