"""The shipped collector config and every rendered variant: ADOT-only, sampled as promised, no secrets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentcreator.collector import (
    ADOT_IMAGE,
    ADOT_VERSION,
    APP_OTLP_ENDPOINT,
    CONFIG_PATH,
    DEFAULT_XRAY_MODE,
    INFRA_PROVIDED_ENV,
    XRAY_MODES,
    render_config,
    required_env,
    validate_config,
)
from agentcreator.collector._components import load_components

COLLECTOR_DIR = CONFIG_PATH.parent
VARIANTS = [(langfuse, mode) for langfuse in (True, False) for mode in XRAY_MODES]
KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "extensions": "extension"}


def _shipped_text() -> str:
    return CONFIG_PATH.read_text(encoding="utf-8")


def _variant(langfuse: bool, mode: str) -> dict:
    return yaml.safe_load(render_config(langfuse_enabled=langfuse, xray_mode=mode))


def _all_texts() -> list[tuple[str, str]]:
    rendered = [
        (f"langfuse={langfuse},xray={mode}", render_config(langfuse_enabled=langfuse, xray_mode=mode))
        for langfuse, mode in VARIANTS
    ]
    return [("shipped", _shipped_text()), *rendered]


def test_config_path_points_at_the_repo_file():
    assert CONFIG_PATH == Path(__file__).resolve().parents[2] / "collector" / "otel-config.yaml"
    assert CONFIG_PATH.is_file()


def test_shipped_config_passes_the_validator():
    assert validate_config(_shipped_text()) == []


@pytest.mark.parametrize(("langfuse", "mode"), VARIANTS)
def test_every_rendered_variant_passes_the_validator(langfuse, mode):
    assert validate_config(render_config(langfuse_enabled=langfuse, xray_mode=mode)) == []


@pytest.mark.parametrize("name_and_text", _all_texts(), ids=lambda item: item[0])
def test_every_component_type_is_one_adot_ships(name_and_text):
    components = load_components(COLLECTOR_DIR / "adot-components.txt")
    doc = yaml.safe_load(name_and_text[1])
    used = [(kind, cid.split("/", 1)[0]) for section, kind in KINDS.items() for cid in doc.get(section) or {}]
    assert used
    assert [(kind, name) for kind, name in used if name not in components.types[kind]] == []
    assert "connectors" not in doc


def test_the_version_is_named_once_and_everything_agrees():
    assert re.fullmatch(r"v\d+\.\d+\.\d+", ADOT_VERSION)
    assert ADOT_IMAGE == "public.ecr.aws/aws-observability/aws-otel-collector:" + ADOT_VERSION
    assert load_components(COLLECTOR_DIR / "adot-components.txt").version == ADOT_VERSION
    for path in COLLECTOR_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        tags = set(re.findall(r"aws-otel-collector:(v\d+\.\d+\.\d+|[A-Za-z][^\s`)]*)", text))
        assert tags <= {ADOT_VERSION}, path.name
        assert ":latest" not in text, path.name
    assert f"ADOT {ADOT_VERSION}" in render_config(langfuse_enabled=True)


def test_component_list_says_where_it_was_read_from():
    text = (COLLECTOR_DIR / "adot-components.txt").read_text(encoding="utf-8")
    assert "aws-observability/aws-otel-collector" in text
    assert "pkg/defaultcomponents/defaults.go" in text
    assert re.search(r"commit [0-9a-f]{40}", text)
    assert "transform" not in load_components(COLLECTOR_DIR / "adot-components.txt").types["processor"]


@pytest.mark.parametrize(("langfuse", "mode"), VARIANTS)
def test_tail_sampling_keeps_errors_slow_traces_and_a_percentage(langfuse, mode):
    sampling = _variant(langfuse, mode)["processors"]["tail_sampling"]
    by_type = {policy["type"]: policy for policy in sampling["policies"]}
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert by_type["latency"]["latency"]["threshold_ms"] == "${env:SAMPLING_LATENCY_THRESHOLD_MS}"
    assert by_type["probabilistic"]["probabilistic"]["sampling_percentage"] == "${env:SAMPLING_PERCENTAGE}"


def test_traces_pipeline_runs_processors_in_the_required_order():
    doc = yaml.safe_load(_shipped_text())
    traces = doc["service"]["pipelines"]["traces"]
    assert traces["processors"] == [
        "memory_limiter/traces", "resource_detection", "resource/genai", "tail_sampling", "batch/traces",
    ]
    assert doc["processors"]["resource_detection"]["detectors"] == ["env", "ecs"]
    limiter = doc["processors"]["memory_limiter/traces"]
    assert limiter == {
        "check_interval": "1s",
        "limit_mib": "${env:COLLECTOR_MEMORY_LIMIT_MIB}",
        "spike_limit_mib": "${env:COLLECTOR_MEMORY_SPIKE_MIB}",
    }


def test_the_self_metrics_pipeline_has_no_memory_limiter():
    """A limiter refusing the app's spans must not also silence the metrics the alarms read."""
    doc = yaml.safe_load(_shipped_text())
    processors = doc["service"]["pipelines"]["metrics/collector"]["processors"]
    assert not [p for p in processors if p.startswith("memory_limiter")]


def test_sampling_does_not_wait_for_a_root_the_collector_may_never_see():
    """A caller's traceparent makes the invocation's root a child of a remote span: no
    ParentSpanID-empty root ever arrives, so a kept trace must not wait for one."""
    sampling = yaml.safe_load(_shipped_text())["processors"]["tail_sampling"]
    assert sampling["sampling_strategy"] == "span-ingest"
    assert sampling["decision_cache"]["sampled_cache_size"] >= sampling["num_traces"]


def test_genai_observability_resource_attribute_is_added_without_overriding():
    genai = yaml.safe_load(_shipped_text())["processors"]["resource/genai"]
    assert genai["attributes"] == [{"key": "aws.service.type", "value": "gen_ai_agent", "action": "insert"}]


def test_receivers_listen_on_loopback_where_the_app_sends():
    doc = yaml.safe_load(_shipped_text())
    protocols = doc["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert "http://" + protocols["http"]["endpoint"] == APP_OTLP_ENDPOINT
    assert doc["extensions"]["health_check"]["endpoint"] == "127.0.0.1:13133"
    assert "health_check" in doc["service"]["extensions"]


@pytest.mark.parametrize("name_and_text", _all_texts(), ids=lambda item: item[0])
def test_no_literal_credential_anywhere(name_and_text):
    text = name_and_text[1]
    assert not re.search(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=]{8,}", text)
    assert not re.search(r"\b(pk|sk)-lf-", text)
    for exporter in yaml.safe_load(text)["exporters"].values():
        for header, value in (exporter.get("headers") or {}).items():
            if header.lower() == "authorization":
                assert value == "${env:LANGFUSE_AUTHORIZATION}"


def test_langfuse_exporter_sends_the_documented_headers():
    langfuse = yaml.safe_load(_shipped_text())["exporters"]["otlp_http/langfuse"]
    assert langfuse["endpoint"] == "${env:LANGFUSE_OTLP_ENDPOINT}"
    assert langfuse["headers"] == {
        "Authorization": "${env:LANGFUSE_AUTHORIZATION}",
        "x-langfuse-ingestion-version": "4",
    }


@pytest.mark.parametrize("mode", XRAY_MODES)
def test_langfuse_can_be_switched_off_without_editing_yaml(mode):
    text = render_config(langfuse_enabled=False, xray_mode=mode)
    doc = yaml.safe_load(text)
    assert not [name for name in doc["exporters"] if "langfuse" in name]
    assert all("langfuse" not in e for p in doc["service"]["pipelines"].values() for e in p["exporters"])
    assert not {name for name in required_env(text) if name.startswith("LANGFUSE")}
    assert "langfuse" in str(_variant(True, mode)["service"]["pipelines"]["traces"]["exporters"])


def test_default_xray_mode_is_the_otlp_endpoint_with_sigv4_and_gzip():
    assert DEFAULT_XRAY_MODE == "otlp"
    doc = yaml.safe_load(render_config(langfuse_enabled=True))
    assert "awsxray" not in doc["exporters"]
    xray = doc["exporters"]["otlp_http/xray"]
    assert xray["traces_endpoint"] == "${env:XRAY_OTLP_TRACES_ENDPOINT}"
    assert xray["auth"] == {"authenticator": "sigv4auth/xray"}
    assert xray["compression"] == "gzip"
    assert doc["extensions"]["sigv4auth/xray"] == {"region": "${env:AWS_REGION}", "service": "xray"}
    assert doc["service"]["extensions"] == ["health_check", "sigv4auth/xray"]
    assert doc["service"]["pipelines"]["traces"]["exporters"] == ["otlp_http/xray", "otlp_http/langfuse"]


def test_awsxray_mode_indexes_the_environment_under_the_name_the_exporter_uses():
    doc = _variant(True, "awsxray")
    assert "otlp_http/xray" not in doc["exporters"] and "sigv4auth/xray" not in doc["extensions"]
    assert doc["service"]["extensions"] == ["health_check"]
    indexed = doc["exporters"]["awsxray"]["indexed_attributes"]
    assert indexed == ["session.id", "user.id", "otel.resource.deployment.environment"]
    assert doc["service"]["pipelines"]["traces"]["exporters"] == ["awsxray", "otlp_http/langfuse"]


def test_render_rejects_an_unknown_xray_mode():
    with pytest.raises(ValueError, match="xray_mode must be one of otlp, awsxray"):
        render_config(langfuse_enabled=True, xray_mode="daemon")


def test_render_keeps_env_references_instead_of_values(monkeypatch):
    monkeypatch.setenv("LANGFUSE_AUTHORIZATION", "Basic c2VjcmV0OnNlY3JldA==")
    monkeypatch.setenv("SAMPLING_PERCENTAGE", "7")
    text = render_config(langfuse_enabled=True)
    assert "c2VjcmV0" not in text
    assert "${env:LANGFUSE_AUTHORIZATION}" in text and "${env:SAMPLING_PERCENTAGE}" in text


def test_render_reads_an_explicit_path(tmp_path):
    for name in ("otel-config.yaml", "xray-awsxray.yaml"):
        (tmp_path / name).write_text((COLLECTOR_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    text = render_config(langfuse_enabled=False, xray_mode="awsxray", path=tmp_path / "otel-config.yaml")
    assert validate_config(text) == []


@pytest.mark.parametrize(("langfuse", "mode"), VARIANTS)
def test_every_env_reference_is_one_the_infra_provides(langfuse, mode):
    names = required_env(render_config(langfuse_enabled=langfuse, xray_mode=mode))
    assert names <= INFRA_PROVIDED_ENV
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in names)


def test_the_full_config_uses_every_infra_variable():
    assert required_env(_shipped_text()) == INFRA_PROVIDED_ENV


def test_required_env_reads_values_not_comments():
    text = "# ${env:IN_A_COMMENT}\nexporters:\n  x:\n    a: ${env:ONE}/${env:TWO:-d}\n    b: $${env:ESCAPED}\n"
    assert required_env(text) == {"ONE", "TWO"}


def test_every_infra_variable_is_documented_in_the_readme():
    readme = (COLLECTOR_DIR / "README.md").read_text(encoding="utf-8")
    for name in INFRA_PROVIDED_ENV:
        assert re.search(rf"^\| `{name}` \|[^|]+\|[^|]+\|", readme, re.MULTILINE), name


def test_collector_metrics_reach_cloudwatch_from_their_first_value():
    doc = yaml.safe_load(_shipped_text())
    assert doc["service"]["telemetry"]["metrics"]["level"] == "detailed"
    emf = doc["exporters"]["awsemf/collector"]
    assert emf["namespace"] == "AgentCreator/Collector"
    assert emf["retain_initial_value_of_delta_metric"] is True
    assert ["environment", "service"] in emf["metric_declarations"][0]["dimensions"]
    assert doc["service"]["pipelines"]["metrics/collector"]["exporters"] == ["awsemf/collector"]


@pytest.mark.parametrize(("langfuse", "mode"), VARIANTS)
def test_every_exporter_buffers_and_retries(langfuse, mode):
    for exporter_id, config in _variant(langfuse, mode)["exporters"].items():
        if exporter_id.startswith(("awsxray", "awsemf")):
            assert config["max_retries"] >= 1, exporter_id  # these accept no sending_queue in this ADOT
        else:
            assert config["sending_queue"]["enabled"] is True, exporter_id
            assert config["sending_queue"]["sizer"] == "bytes", exporter_id  # memory bounded whatever the spans
            assert config["sending_queue"]["queue_size"] == "${env:COLLECTOR_QUEUE_BYTES}", exporter_id
            assert config["retry_on_failure"]["enabled"] is True, exporter_id


def test_importing_the_package_reads_no_files():
    """The image ships service/ only, so nothing may open collector/ at import time."""
    code = (
        "import pathlib\n"
        "def refuse(*a, **k):\n    raise AssertionError('file read at import')\n"
        "pathlib.Path.read_text = refuse\npathlib.Path.open = refuse\n"
        "import agentcreator.collector, agentcreator.commands.collector_check\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


VALUES = {
    "COLLECTOR_MEMORY_LIMIT_MIB": "156", "COLLECTOR_MEMORY_SPIKE_MIB": "31", "COLLECTOR_QUEUE_BYTES": "26214400",
    "SAMPLING_PERCENTAGE": "100", "SAMPLING_LATENCY_THRESHOLD_MS": "60000", "ENVIRONMENT": "dev",
    "SERVICE_NAME": "agentcreator-meta-agent", "AWS_REGION": "eu-west-1",
    "XRAY_OTLP_TRACES_ENDPOINT": "https://xray.eu-west-1.amazonaws.com/v1/traces",
    "LANGFUSE_OTLP_ENDPOINT": "https://cloud.langfuse.com/api/public/otel",
}
SECRETS = frozenset({"LANGFUSE_AUTHORIZATION"})


def test_render_accepts_complete_usable_values():
    assert render_config(langfuse_enabled=True, values=VALUES, secret_names=SECRETS)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SAMPLING_LATENCY_THRESHOLD_MS", "0", "SAMPLING_LATENCY_THRESHOLD_MS: '0' must be >= 1"),
    ("SAMPLING_LATENCY_THRESHOLD_MS", "", "is not an integer"),
    ("SAMPLING_PERCENTAGE", "101", "must be in [0, 100]"),
    ("COLLECTOR_MEMORY_SPIKE_MIB", "156", "must be below COLLECTOR_MEMORY_LIMIT_MIB"),
    ("COLLECTOR_QUEUE_BYTES", "1000", "must be >= 1048576"),
    ("XRAY_OTLP_TRACES_ENDPOINT", "https://xray.eu-west-1.amazonaws.com", "ending in /v1/traces"),
    ("ENVIRONMENT", "dev env", "must be 1-63 letters"),
])
def test_render_refuses_a_value_the_collector_could_not_honour(name, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render_config(langfuse_enabled=True, values={**VALUES, name: value}, secret_names=SECRETS)


def test_render_refuses_a_reference_without_a_value():
    values = {k: v for k, v in VALUES.items() if k != "SAMPLING_PERCENTAGE"}
    expected = "SAMPLING_PERCENTAGE: the config expands ${env:SAMPLING_PERCENTAGE}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        render_config(langfuse_enabled=True, values=values, secret_names=SECRETS)
    with pytest.raises(ValueError, match="LANGFUSE_AUTHORIZATION"):
        render_config(langfuse_enabled=True, values=VALUES)


def test_render_refuses_a_value_the_config_does_not_use():
    with pytest.raises(ValueError, match="UNKNOWN_X: not a variable the collector config uses"):
        render_config(langfuse_enabled=False, values={**VALUES, "UNKNOWN_X": "1"})


def _app_emf(doc: dict) -> dict:
    return doc["exporters"]["awsemf/app"]


@pytest.mark.parametrize(("langfuse", "mode"), VARIANTS)
def test_the_apps_metrics_go_to_cloudwatch_in_their_own_namespace(langfuse, mode):
    doc = _variant(langfuse, mode)
    pipeline = doc["service"]["pipelines"]["metrics/app"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["awsemf/app"]
    assert pipeline["processors"][0].startswith("memory_limiter/") and pipeline["processors"][-1].startswith("batch")
    emf = _app_emf(doc)
    assert emf["namespace"] == "AgentCreator/Pipeline" != doc["exporters"]["awsemf/collector"]["namespace"]
    assert emf["dimension_rollup_option"] == "NoDimensionRollup"
    assert emf["retain_initial_value_of_delta_metric"] is True


def test_every_app_instrument_is_exported_by_small_dimension_sets_of_attributes_it_records():
    """The link from the app's instruments to the EMF declarations: nothing the app records is
    left out, and no dimension names an attribute the app never sets."""
    from agentcreator.telemetry.instruments import ATTRIBUTES, INSTRUMENTS, SPANS_DROPPED

    declarations = _app_emf(yaml.safe_load(_shipped_text()))["metric_declarations"]
    for name in INSTRUMENTS:
        matching = [d for d in declarations if any(re.search(s, name) for s in d["metric_name_selectors"])]
        assert matching, name
    for declaration in declarations:
        for selector in declaration["metric_name_selectors"]:
            assert any(re.search(selector, name) for name in INSTRUMENTS), selector
        # error.type names an exception's class, except on the drop count, where it is one of two reasons
        drops_only = all(re.search(selector, SPANS_DROPPED) for selector in declaration["metric_name_selectors"])
        small = ATTRIBUTES - {"gen_ai.request.model", "gen_ai.provider.name"}
        if not drops_only:
            small -= {"error.type"}
        for dimensions in declaration["dimensions"]:
            assert dimensions[0] == "environment" and len(dimensions) <= 3
            assert set(dimensions[1:]) <= small, (declaration, dimensions)
    labels = yaml.safe_load(_shipped_text())["processors"]["resource/app-metrics"]["attributes"]
    assert {"key": "environment", "value": "${env:ENVIRONMENT}", "action": "upsert"} in labels
