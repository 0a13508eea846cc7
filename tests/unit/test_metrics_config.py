"""Where metrics go and how they are aggregated: the standard variables first, ours for the rest."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram
from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, ExponentialBucketHistogramAggregation

from agentcreator.config import ConfigError, load_settings
from agentcreator.telemetry.metrics import build_otlp_metric_exporter


@pytest.mark.parametrize(("env", "endpoint", "source"), [
    ({}, None, ""),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/metrics",
     "OTEL_EXPORTER_OTLP_ENDPOINT"),
    # our traces URL form of the generic endpoint: its base gets the metrics path
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/v1/traces"}, "http://collector:4318/v1/metrics",
     "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9/x"},
     "http://m:9/x", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces"}, None, ""),  # traces-only: no metrics
    ({"OTEL_METRICS_EXPORTER": "otlp"}, "http://localhost:4318/v1/metrics",
     "OTEL_METRICS_EXPORTER=otlp (the specification's default)"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     "http://collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
])
def test_the_metrics_endpoint(env: dict, endpoint: str | None, source: str) -> None:
    settings = load_settings(env)
    assert settings.otlp_metrics_endpoint == endpoint
    assert settings.metrics_endpoint_source == source
    assert settings.exports_otlp_metrics is (endpoint is not None)


def test_langfuse_gets_no_metrics_and_says_why() -> None:
    keys = {"LANGFUSE_PUBLIC_KEY": "pk-lf-fake", "LANGFUSE_SECRET_KEY": "sk-lf-fake"}
    via_keys = load_settings(keys)
    assert via_keys.otlp_metrics_endpoint is None and "Langfuse" in via_keys.metrics_problem
    direct = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://cloud.langfuse.com/api/public/otel"})
    assert direct.otlp_metrics_endpoint is None and "Langfuse" in direct.metrics_problem
    self_hosted = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://lf.example.com/api/public/otel"})
    assert self_hosted.otlp_metrics_endpoint is None
    # metrics sent elsewhere on purpose still go
    both = load_settings({**keys, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/v1/metrics"})
    assert both.otlp_metrics_endpoint == "http://collector:4318/v1/metrics"


def test_the_metrics_exporter_and_protocol_variables() -> None:
    assert load_settings({"OTEL_METRICS_EXPORTER": "none",
                          "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}).exports_otlp_metrics is False
    assert load_settings({"OTEL_METRICS_EXPORTER": "console"}).metrics_exporters == ("console",)
    grpc = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                          "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})
    assert grpc.otlp_metrics_protocol == "grpc" and grpc.otlp_protocol == "http/protobuf"
    with pytest.raises(ConfigError, match="OTEL_METRICS_EXPORTER"):
        load_settings({"OTEL_METRICS_EXPORTER": "prometheus"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"):
        load_settings({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"})


def test_the_metrics_compression_is_validated_and_its_own_variable_wins() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert load_settings(endpoint).otlp_metrics_compression == "none"
    mixed = load_settings({**endpoint, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                           "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "deflate"})
    assert mixed.otlp_metrics_compression == "deflate" and mixed.otlp_compression == "gzip"
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_METRICS_COMPRESSION='brotli'"):
        load_settings({**endpoint, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "brotli"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_COMPRESSION='deflate'.*grpc"):
        load_settings({**endpoint, "OTEL_EXPORTER_OTLP_COMPRESSION": "deflate",
                       "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})


def test_gzip_metrics_reach_the_receiver_gzipped() -> None:
    from agentcreator import telemetry
    from tests.support.otlp_sink import OtlpSink

    with OtlpSink() as sink:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "gzip"}
        telemetry.configure_tracing(load_settings(env))
        telemetry.app_metrics().invocation("offline", 1.0)
        assert telemetry.shutdown(timeout_s=5)
        assert {p["name"] for p in sink.metric_points()} == {"gen_ai.invoke_agent.duration",
                                                             "agentcreator.invocations", "agentcreator.spans.dropped"}
    assert sink.metric_headers[0]["content-encoding"] == "gzip"


def test_delta_and_exponential_histograms_unless_the_standard_variables_say_otherwise(monkeypatch) -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    ours = build_otlp_metric_exporter(settings)
    assert ours._preferred_temporality[Counter] is AggregationTemporality.DELTA
    assert ours._preferred_temporality[Histogram] is AggregationTemporality.DELTA
    assert isinstance(ours._preferred_aggregation[Histogram], ExponentialBucketHistogramAggregation)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "explicit_bucket_histogram")
    standard = build_otlp_metric_exporter(settings)
    assert standard._preferred_temporality[Histogram] is AggregationTemporality.CUMULATIVE
    assert isinstance(standard._preferred_aggregation[Histogram], ExplicitBucketHistogramAggregation)


def test_metrics_are_exported_every_otel_metric_export_interval(monkeypatch) -> None:
    """The SDK's reader reads the interval: a short one brings points before any shutdown flush."""
    from agentcreator import telemetry
    from tests.support.otlp_sink import OtlpSink

    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    with OtlpSink() as sink:
        telemetry.configure_tracing(load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}))
        try:
            telemetry.app_metrics().invocation("bedrock/amazon.nova-pro-v1:0", 2.5)
            sink.wait_for_metrics(lambda points: any(p["name"] == "agentcreator.invocations" for p in points),
                                  timeout=5)
            point = sink.metric_points("agentcreator.invocations")[0]
        finally:
            telemetry.shutdown(timeout_s=2)
    assert point["attributes"] == {"agentcreator.outcome": "success", "gen_ai.provider.name": "aws.bedrock",
                                   "gen_ai.request.model": "amazon.nova-pro-v1:0"}
    assert sink.requests == 0  # no span was made: the traces endpoint saw nothing


def test_metrics_over_grpc_reach_the_grpc_endpoint() -> None:
    from agentcreator import telemetry
    from tests.support.otlp_sink import GrpcOtlpSink

    with GrpcOtlpSink() as sink:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        telemetry.configure_tracing(load_settings(env))
        telemetry.app_metrics().sandbox_run("code_interpreter", 0.2, "timeout")
        assert telemetry.shutdown(timeout_s=5)  # the final export carries the point
        runs = sink.metric_points("agentcreator.sandbox.runs")
    assert [p["attributes"] for p in runs] == [{"gen_ai.tool.name": "code_interpreter",
                                                "agentcreator.outcome": "timeout"}]
    assert sink.metric_requests == 1 and sink.requests == 0


def test_the_grpc_exporters_are_built_when_the_environment_says_none(monkeypatch) -> None:
    """The SDK's gRPC exporters raise on OTEL_EXPORTER_OTLP_COMPRESSION=none read from the
    environment: both of ours are given the resolved compression explicitly."""
    from grpc import Compression

    from agentcreator.config import grpc_compression
    from agentcreator.telemetry.setup import build_otlp_exporter

    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
           "OTEL_EXPORTER_OTLP_COMPRESSION": "none"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env)
    build_otlp_exporter(settings)[0].shutdown()
    build_otlp_metric_exporter(settings).shutdown()
    assert (grpc_compression("gzip"), grpc_compression("none")) == (Compression.Gzip, Compression.NoCompression)
