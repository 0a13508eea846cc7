"""Containers: read-only root filesystems with explicit writable volumes, no Linux capabilities,
no init process, botocore's config paths pinned to the read-only root, and the image
scanned on push."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import yaml

from agentcreator.collector import render_config
from agentcreator_infra.service import APP_HOME, AWS_CONFIG_PATHS
from agentcreator_infra.stack import IMAGE_ASSET_REPOSITORIES
from tests.infra.conftest import ENVIRONMENTS, ROOT, VARIANTS, containers, environment_of, one, resources

ALL = ENVIRONMENTS + VARIANTS


def _raw(synthesized, variant, env):
    return (synthesized if env in synthesized.raw else variant).raw[env]


@pytest.mark.parametrize("env", ALL)
def test_every_container_has_a_read_only_root_and_no_capabilities(synthesized, variant, env):
    for name, container in containers(_raw(synthesized, variant, env)).items():
        assert container["ReadonlyRootFilesystem"] is True, name
        capabilities = container["LinuxParameters"]["Capabilities"]
        assert capabilities == {"Drop": ["ALL"]}, name  # nothing added back
        assert not container.get("Privileged"), name


@pytest.mark.parametrize("env", ALL)
def test_the_app_writes_only_to_its_task_volume_at_tmp(synthesized, variant, env):
    raw = _raw(synthesized, variant, env)
    app = containers(raw)["app"]
    assert app["MountPoints"] == [{"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "app-tmp"}]
    volumes = one(raw, "AWS::ECS::TaskDefinition")["Properties"]["Volumes"]
    # no host path, no EFS: Fargate backs it with the task's own ephemeral storage
    assert volumes == [{"Name": "app-tmp"}]


@pytest.mark.parametrize("env", ALL)
def test_each_writable_mount_is_a_volume_of_the_image(synthesized, variant, env):
    # Fargate makes a bind mount root-owned 0755 unless the image declares the path a VOLUME;
    # without it the app's user could not write to its only writable place.
    dockerfile = re.sub(r"\\\n", " ", (ROOT / "service" / "Dockerfile").read_text())
    runtime = re.split(r"^FROM\s", dockerfile, flags=re.MULTILINE)[-1]
    volumes = {path for args in re.findall(r"^VOLUME\s+(.+)$", runtime, flags=re.MULTILINE)
               for path in (json.loads(args) if args.startswith("[") else args.split())}
    app = containers(_raw(synthesized, variant, env))["app"]
    assert {m["ContainerPath"] for m in app["MountPoints"] if not m["ReadOnly"]} <= volumes


@pytest.mark.parametrize("env", ALL)
def test_no_container_runs_an_init_process(synthesized, variant, env):
    # docker-init as PID 1 would run as the app's uid, be dumpable (readable through /proc and
    # ptrace by sandboxed code) and hold the task's environment with the credentials URI
    for name, container in containers(_raw(synthesized, variant, env)).items():
        assert container["LinuxParameters"].get("InitProcessEnabled") is not True, name
        assert "InitProcessEnabled" not in container["LinuxParameters"], name


@pytest.mark.parametrize("env", ALL)
def test_botocore_config_paths_and_home_lie_on_the_read_only_root(synthesized, variant, env):
    environment = environment_of(containers(_raw(synthesized, variant, env))["app"])
    assert environment["AWS_CONFIG_FILE"] == "/etc/agentcreator/aws/config"
    assert environment["AWS_SHARED_CREDENTIALS_FILE"] == "/etc/agentcreator/aws/credentials"
    assert environment["HOME"] == APP_HOME == "/home/agentcreator"
    for path in (*AWS_CONFIG_PATHS.values(), APP_HOME):
        assert not path.startswith("/tmp"), path  # the only writable place


@pytest.mark.parametrize("env", ALL)
def test_the_app_runs_as_the_images_unprivileged_user(synthesized, variant, env):
    app = containers(_raw(synthesized, variant, env))["app"]
    dockerfile = (ROOT / "service" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and app["User"] == users[-1]
    assert not app["User"].startswith("0")


@pytest.mark.parametrize("env", ALL)
def test_the_collector_needs_no_writable_path(synthesized, variant, env):
    collector = containers(_raw(synthesized, variant, env))["collector"]
    assert "MountPoints" not in collector
    config = yaml.safe_load(environment_of(collector)["AOT_CONFIG_CONTENT"])
    components = {name.split("/")[0] for section in ("extensions", "exporters", "receivers")
                  for name in config.get(section) or {}}
    # the components that keep state on disk; with any of them the collector would need a volume
    assert not components & {"file_storage", "file", "file_log", "filelog", "ecs_observer"}
    for langfuse in (True, False):
        assert "file_storage" not in render_config(langfuse_enabled=langfuse)


def test_prod_scans_every_push_to_the_image_asset_repositories(synthesized):
    raw = synthesized.raw["prod"]
    scanning = one(raw, "AWS::ECR::RegistryScanningConfiguration")["Properties"]
    assert scanning["ScanType"] == "BASIC"
    (rule,) = scanning["Rules"]
    assert rule["ScanFrequency"] == "SCAN_ON_PUSH"
    assert rule["RepositoryFilters"] == [{"Filter": IMAGE_ASSET_REPOSITORIES, "FilterType": "WILDCARD"}]
    image = containers(raw)["app"]["Image"]["Fn::Sub"]
    repository = image.split("/", 1)[1].split(":")[0].replace("${AWS::AccountId}", "123456789012").replace(
        "${AWS::Region}", "eu-west-1")
    assert fnmatch.fnmatchcase(repository, IMAGE_ASSET_REPOSITORIES)


@pytest.mark.parametrize("env", ["dev", "staging", "qa", "lab"])
def test_registry_scanning_is_set_once_per_account_not_in_every_stack(synthesized, variant, env):
    assert not resources(_raw(synthesized, variant, env), "AWS::ECR::RegistryScanningConfiguration")


def test_langfuse_off_means_no_secret_in_the_task(variant):
    collector = containers(variant.raw["qa"])["collector"]
    assert variant.settings["qa"].langfuse_enabled is False
    assert "Secrets" not in collector
    assert "otlp_http/langfuse" not in environment_of(collector)["AOT_CONFIG_CONTENT"]
