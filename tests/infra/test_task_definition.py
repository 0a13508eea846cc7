"""The app container and the ADOT sidecar, their wiring, logs and config."""

from __future__ import annotations

import json

import pytest
import yaml

from agentcreator.collector import ADOT_IMAGE, APP_OTLP_ENDPOINT, INFRA_PROVIDED_ENV, render_config, required_env
from agentcreator_infra.collector import AWSXRAY_SPAN_CONTENT_BYTES, NON_HEAP_MIB
from tests.infra.conftest import ENVIRONMENTS, containers, environment_of, resources

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


def test_exactly_two_essential_containers(synthesized, env):
    found = containers(synthesized.raw[env])
    assert set(found) == {"app", "collector"}
    assert all(c["Essential"] for c in found.values())


def test_app_container_is_the_asset_image_on_8080_without_secrets(synthesized, env):
    app = containers(synthesized.raw[env])["app"]
    assert "container-assets" in app["Image"]["Fn::Sub"]
    assert app["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert "Secrets" not in app
    environment = environment_of(app)
    assert environment["ENVIRONMENT"] == env
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == APP_OTLP_ENDPOINT == "http://127.0.0.1:4318"


def test_image_asset_builds_service_dockerfile_from_the_repo_root(synthesized, env):
    stack = synthesized.stacks[env]
    manifest = (synthesized.outdir / f"{stack.artifact_id}.assets.json").read_text()
    images = json.loads(manifest)["dockerImages"]
    assert len(images) == 1
    source = next(iter(images.values()))["source"]
    assert source["dockerFile"] == "service/Dockerfile"
    staged = synthesized.outdir / source["directory"]
    assert (staged / "requirements-runtime.lock").is_file()
    assert not any((staged / name).exists() for name in (".venv", "cdk.out", ".git", "tests", "infra"))


def test_app_waits_for_a_healthy_collector(synthesized, env):
    app = containers(synthesized.raw[env])["app"]
    assert app["DependsOn"] == [{"ContainerName": "collector", "Condition": "HEALTHY"}]


def test_collector_is_pinned_and_checked_without_a_shell(synthesized, env):
    collector = containers(synthesized.raw[env])["collector"]
    assert collector["Image"] == ADOT_IMAGE
    assert ":latest" not in ADOT_IMAGE
    assert collector["HealthCheck"]["Command"] == ["CMD", "/healthcheck"]
    assert collector["Essential"] is True


def test_collector_config_is_the_rendered_one(synthesized, settings, env):
    environment = environment_of(containers(synthesized.raw[env])["collector"])
    expected = render_config(langfuse_enabled=settings[env].langfuse_enabled, xray_mode=settings[env].xray_mode)
    assert environment["AOT_CONFIG_CONTENT"] == expected
    assert "service" in yaml.safe_load(environment["AOT_CONFIG_CONTENT"])


def test_collector_gets_exactly_the_variables_its_config_reads(synthesized, env):
    collector = containers(synthesized.raw[env])["collector"]
    environment = environment_of(collector)
    secrets = {s["Name"] for s in collector.get("Secrets", [])}
    given = (set(environment) - {"AOT_CONFIG_CONTENT", "GOMEMLIMIT"}) | secrets
    assert given == required_env(environment["AOT_CONFIG_CONTENT"])
    assert given <= INFRA_PROVIDED_ENV
    assert all(value not in ("", None) for value in environment.values())


def test_xray_goes_where_the_environment_says(synthesized, settings, env):
    collector, app = (containers(synthesized.raw[env])[name] for name in ("collector", "app"))
    environment = environment_of(collector)
    config = yaml.safe_load(environment["AOT_CONFIG_CONTENT"])
    if settings[env].xray_mode == "otlp":
        assert "otlp_http/xray" in config["exporters"] and "awsxray" not in config["exporters"]
        assert json.dumps(environment["XRAY_OTLP_TRACES_ENDPOINT"]).endswith('.amazonaws.com/v1/traces"]]}')
        assert "AGENTCREATOR_MAX_SPAN_CONTENT_BYTES" not in environment_of(app)
    else:
        assert "awsxray" in config["exporters"] and "XRAY_OTLP_TRACES_ENDPOINT" not in environment
        assert environment_of(app)["AGENTCREATOR_MAX_SPAN_CONTENT_BYTES"] == str(AWSXRAY_SPAN_CONTENT_BYTES)


def test_sampling_and_memory_follow_context(synthesized, settings, env):
    collector = containers(synthesized.raw[env])["collector"]
    environment = environment_of(collector)
    wanted = settings[env]
    assert float(environment["SAMPLING_PERCENTAGE"]) == wanted.sampling_percentage
    assert int(environment["SAMPLING_LATENCY_THRESHOLD_MS"]) == wanted.sampling_latency_threshold_ms
    assert collector["Memory"] == wanted.collector_memory_mib
    assert int(environment["COLLECTOR_MEMORY_LIMIT_MIB"]) == wanted.collector_memory_mib - NON_HEAP_MIB
    spike, limit = int(environment["COLLECTOR_MEMORY_SPIKE_MIB"]), int(environment["COLLECTOR_MEMORY_LIMIT_MIB"])
    assert 0.15 <= spike / limit <= 0.25
    # The Go runtime's soft limit leaves the binary's pages room below the container's hard limit.
    assert environment["GOMEMLIMIT"] == f"{wanted.collector_memory_mib - NON_HEAP_MIB}MiB"
    queues = 2 if wanted.langfuse_enabled and wanted.xray_mode == "otlp" else 1
    assert queues * int(environment["COLLECTOR_QUEUE_BYTES"]) <= (limit - spike) * 1024 * 1024 * 0.5


def test_each_container_logs_to_its_own_group_with_retention(synthesized, settings, env):
    raw = synthesized.raw[env]
    groups = [c["LogConfiguration"]["Options"]["awslogs-group"]["Ref"] for c in containers(raw).values()]
    assert len(set(groups)) == 2
    log_groups = resources(raw, "AWS::Logs::LogGroup")
    for group in groups:
        assert log_groups[group]["Properties"]["RetentionInDays"] == settings[env].log_retention_days
