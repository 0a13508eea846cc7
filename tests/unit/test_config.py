from __future__ import annotations

import base64

import pytest

from agentcreator.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://localhost:4318/v1/traces", "http://localhost:4318/v1/traces"),
        ("http://localhost:4318/v1/traces/", "http://localhost:4318/v1/traces"),
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://us.cloud.langfuse.com/api/public/otel", "https://us.cloud.langfuse.com/api/public/otel/v1/traces"),
        ("https://us.cloud.langfuse.com/api/public/otel/", "https://us.cloud.langfuse.com/api/public/otel/v1/traces"),
        (" http://127.0.0.1:4318 ", "http://127.0.0.1:4318/v1/traces"),
    ],
)
def test_endpoint_base_and_full_forms_normalize_to_one_traces_url(raw: str, expected: str) -> None:
    assert load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": raw}).otlp_traces_endpoint == expected


def test_traces_endpoint_wins_and_is_used_as_is() -> None:
    settings = load_settings(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other:9999/custom/path",
        }
    )
    assert settings.otlp_traces_endpoint == "http://other:9999/custom/path"


def test_no_endpoint_means_no_otlp_export() -> None:
    assert load_settings({}).otlp_traces_endpoint is None


def test_langfuse_keys_build_endpoint_basic_auth_and_ingestion_version() -> None:
    settings = load_settings(
        {
            "LANGFUSE_PUBLIC_KEY": "pk-lf-fake",
            "LANGFUSE_SECRET_KEY": "sk-lf-fake",
            "LANGFUSE_HOST": "https://us.cloud.langfuse.com/",
        }
    )
    assert settings.otlp_traces_endpoint == "https://us.cloud.langfuse.com/api/public/otel/v1/traces"
    expected = "Basic " + base64.b64encode(b"pk-lf-fake:sk-lf-fake").decode()
    assert settings.otlp_headers["authorization"] == expected
    assert settings.otlp_headers["x-langfuse-ingestion-version"] == "4"
    assert "sk-lf-fake" not in repr(settings) and expected not in repr(settings)


def test_langfuse_host_defaults_to_cloud() -> None:
    settings = load_settings({"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"})
    assert settings.otlp_traces_endpoint == "https://cloud.langfuse.com/api/public/otel/v1/traces"


def test_headers_are_url_decoded() -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc%3D,x-team=ml"})
    assert dict(settings.otlp_headers) == {"authorization": "Basic abc=", "x-team": "ml"}


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.environment == "production"
    assert settings.otlp_protocol == "http/protobuf"
    assert settings.otlp_timeout_s == 10.0
    assert settings.debug is False
    assert settings.lm == "bedrock/amazon.nova-pro-v1:0"
    assert settings.max_content_bytes == 16384
    assert settings.workers == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:99999"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_DEBUG": "maybe"}, "OTEL_DEBUG"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"LANGFUSE_PUBLIC_KEY": "pk"}, "LANGFUSE_SECRET_KEY"),
        ({"AGENTCREATOR_MAX_CONCURRENCY": "lots"}, "AGENTCREATOR_MAX_CONCURRENCY"),
        ({"AGENTCREATOR_MAX_CONCURRENCY": "0"}, "AGENTCREATOR_MAX_CONCURRENCY"),
        ({"AGENTCREATOR_WORKERS": "0"}, "AGENTCREATOR_WORKERS"),
        ({"AGENTCREATOR_WORKERS": "abc"}, "AGENTCREATOR_WORKERS"),
        ({"AGENTCREATOR_WORKERS": "1.5"}, "AGENTCREATOR_WORKERS"),
        ({"ENVIRONMENT": "prod env!"}, "ENVIRONMENT"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(named) or f" {named} " in f" {message} "
    assert "\n" not in message


def test_explicit_arguments_win_over_environment() -> None:
    assert load_settings({"AGENTCREATOR_LM": "offline"}, lm="offline:latency_ms=5").lm == "offline:latency_ms=5"
    assert load_settings({"AGENTCREATOR_WORKERS": "4"}).workers == 4
    assert load_settings({"AGENTCREATOR_WORKERS": "4"}, workers=2).workers == 2


def test_span_batches_are_small_unless_the_standard_sizes_are_set() -> None:
    assert dict(load_settings({}).span_batch_limits) == {"max_queue_size": 512, "max_export_batch_size": 64}
    assert dict(load_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "4096"}).span_batch_limits) == {}


def test_workers_share_the_tasks_span_queue() -> None:
    assert load_settings({"AGENTCREATOR_WORKERS": "2"}).span_batch_limits["max_queue_size"] == 256
    assert load_settings({}, workers=4).span_batch_limits["max_queue_size"] == 128
    assert load_settings({"AGENTCREATOR_WORKERS": "64"}).span_batch_limits["max_queue_size"] == 64  # one batch


def test_every_variable_is_in_the_readme_configuration_table() -> None:
    from pathlib import Path

    from agentcreator.config import VARIABLES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("## Configuration")
    table = readme[start : readme.index("\n## ", start)]
    assert [name for name in VARIABLES if f"`{name}`" not in table] == []


def test_the_traces_protocol_wins_over_the_generic_one_and_a_bad_one_is_named() -> None:
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}
    assert load_settings(env).otlp_protocol == "grpc"
    with pytest.raises(ConfigError, match="^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json'"):
        load_settings({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"})


def test_traces_headers_replace_the_generic_ones_as_in_the_sdk() -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=generic,x-a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-b=2"}
    assert dict(load_settings(env).otlp_headers) == {"x-b": "2"}
    with pytest.raises(ConfigError, match="^OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        load_settings({"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "novalue"})


def test_traces_timeout_and_compression_win_and_bad_ones_are_named() -> None:
    env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "30", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2",
           "OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"}
    settings = load_settings(env)
    assert (settings.otlp_timeout_s, settings.otlp_compression) == (2.0, "gzip")
    with pytest.raises(ConfigError, match="^OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"):
        load_settings({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="^OTEL_EXPORTER_OTLP_COMPRESSION='deflate'.*grpc"):
        load_settings({"OTEL_EXPORTER_OTLP_COMPRESSION": "deflate", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert load_settings({"OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


@pytest.mark.parametrize(("value", "exporters"), [
    ("", ("otlp",)), ("console", ("console",)), ("otlp,console", ("otlp", "console")), ("none", ()),
    ("OTLP", ("otlp",)),
])
def test_traces_exporter_names_what_runs(value: str, exporters: tuple[str, ...]) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": value}
    settings = load_settings(env)
    assert settings.traces_exporters == exporters
    assert settings.exports_otlp is ("otlp" in exporters)


def test_an_explicit_otlp_exporter_without_endpoint_uses_the_specifications_default() -> None:
    assert load_settings({}).exports_otlp is False  # our default: no endpoint, no export
    assert load_settings({"OTEL_TRACES_EXPORTER": "otlp"}).otlp_traces_endpoint == "http://localhost:4318/v1/traces"
    grpc = load_settings({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert grpc.otlp_traces_endpoint == "http://localhost:4317"
    with pytest.raises(ConfigError, match="^OTEL_TRACES_EXPORTER='zipkin'"):
        load_settings({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_debug_adds_the_console_and_the_sdk_switch_reads_as_the_sdk_does() -> None:
    assert load_settings({"OTEL_DEBUG": "true", "OTEL_TRACES_EXPORTER": "none"}).traces_exporters == ("console",)
    assert load_settings({"OTEL_SDK_DISABLED": " TRUE "}).sdk_disabled is True
    assert load_settings({"OTEL_SDK_DISABLED": "1"}).sdk_disabled is False  # the SDK takes only "true"


def test_langfuse_keys_are_not_sent_to_an_endpoint_that_is_not_langfuse() -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk-lf-fake", "LANGFUSE_SECRET_KEY": "sk-lf-fake",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    settings = load_settings(env)
    assert settings.otlp_traces_endpoint == "http://collector:4318/v1/traces"
    assert "authorization" not in settings.otlp_headers and not settings.langfuse_headers
    assert "collector" in settings.langfuse_problem and "not sent" in settings.langfuse_problem
    assert "sk-lf-fake" not in settings.langfuse_problem


def test_langfuse_keys_fill_in_for_a_langfuse_endpoint_but_standard_headers_win() -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "https://us.cloud.langfuse.com/api/public/otel",
           "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20mine"}
    settings = load_settings(env)
    assert settings.otlp_headers["authorization"] == "Basic mine"
    assert settings.otlp_headers["x-langfuse-ingestion-version"] == "4" and settings.langfuse_headers
    assert settings.langfuse_problem is None


def test_the_standard_variables_the_sdk_reads_are_documented() -> None:
    from pathlib import Path

    from agentcreator.config import STANDARD_VARIABLES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert [name for name in STANDARD_VARIABLES if f"`{name}`" not in docs] == []
