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
