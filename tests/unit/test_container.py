"""The Dockerfile and compose.yaml, checked statically (no Docker engine is needed or assumed)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml

from agentcreator.collector import ADOT_IMAGE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "service" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _base_image() -> str:
    return next(a for i, a in _instructions() if i == "ARG" and a.startswith("PYTHON_IMAGE=")).split("=", 1)[1]


def test_multi_stage_build_on_a_pinned_slim_python_311():
    stages = _stages()
    assert len(stages) >= 2
    assert all(stage[0][1].split()[0] == "${PYTHON_IMAGE}" for stage in stages)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", _base_image())


def test_uv_installs_only_the_runtime_lock():
    build = " ".join(a for i, a in _stages()[0] if i in ("RUN", "COPY", "ARG"))
    assert re.search(r'uv==\$\{UV_VERSION\}|uv==\d', build) and re.search(r"UV_VERSION=\d+\.\d+\.\d+", build)
    assert "-r requirements-runtime.lock" in build
    assert "requirements.lock" not in build.replace("requirements-runtime.lock", "")
    assert "--no-deps ." in build
    for tool in ("aws-cdk", "cdk-nag", "cfn-lint", "pytest", "moto", "ruff", "--all-groups", "--group"):
        assert tool not in DOCKERFILE


def test_runtime_lock_has_no_infra_or_test_tools():
    lock = (ROOT / "requirements-runtime.lock").read_text()
    pins = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line and not line.startswith("#")}
    assert not pins & {"aws-cdk-lib", "cdk-nag", "cfn-lint", "constructs", "pytest", "moto", "ruff", "arize-phoenix"}


def test_final_stage_runs_serve_as_a_non_root_user():
    final = _stages()[-1]
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8080") in final
    assert json.loads(next(a for i, a in final if i == "CMD")) == ["agentcreator", "serve"]
    env = " ".join(a for i, a in final if i == "ENV")
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in env
    assert not any(i == "RUN" and ("pip install" in a or "uv " in a) for i, a in final)


def test_runtime_image_steers_nothing_through_writable_files():
    """The home is root's and the AWS SDK's config files sit where nothing can create them, so code
    the app runs cannot plant a ~/.aws/config whose credential_process botocore would execute."""
    final = _stages()[-1]
    env = " ".join(a for i, a in final if i == "ENV")
    assert "AWS_CONFIG_FILE=/etc/agentcreator/aws/config" in env
    assert "AWS_SHARED_CREDENTIALS_FILE=/etc/agentcreator/aws/credentials" in env
    runs = " ".join(a for i, a in final if i == "RUN")
    assert "--no-create-home" in runs and "--create-home" not in runs.replace("--no-create-home", "")
    assert "import pyseccomp" in runs  # the build fails, not the runs, without libseccomp


def test_compose_app_runs_read_only_without_capabilities():
    app = COMPOSE["services"]["app"]
    assert app["read_only"] is True and app["tmpfs"] == ["/tmp"]
    assert app["cap_drop"] == ["ALL"] and "no-new-privileges:true" in app["security_opt"]


def test_healthcheck_uses_python_urllib_not_curl():
    check = next(a for i, a in _stages()[-1] if i == "HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1].strip())
    assert command[0] == "python" and "urllib.request" in command[-1]
    assert "http://127.0.0.1:8080/ping" in command[-1]
    assert not any("curl" in a or "wget" in a for _, a in _instructions())


def test_dockerignore_keeps_the_context_to_the_runtime_inputs():
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for path in (".venv", "cdk.out", ".git", "tests", "infra", "uv.lock", "requirements.lock"):
        assert any(fnmatch.fnmatch(path, p) for p in patterns), path
    for needed in ("requirements-runtime.lock", "pyproject.toml", "README.md", "service"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns if not p.startswith("!")), needed


def _images() -> dict[str, str]:
    return {name: service.get("image", "") for name, service in COMPOSE["services"].items()}


def test_compose_images_are_pinned():
    images = _images()
    assert set(COMPOSE["services"]) == {"app", "collector", "phoenix"}
    assert images["collector"] == ADOT_IMAGE
    assert re.fullmatch(r"arizephoenix/phoenix:version-\d+\.\d+\.\d+", images["phoenix"])
    text = (ROOT / "compose.yaml").read_text()
    assert ":latest" not in text and ":latest" not in DOCKERFILE


def test_compose_builds_the_app_from_the_repo_root():
    build = COMPOSE["services"]["app"]["build"]
    assert (build["context"], build["dockerfile"]) == (".", "service/Dockerfile")


def test_compose_collector_health_uses_the_healthcheck_binary_and_gates_the_app():
    collector, app = COMPOSE["services"]["collector"], COMPOSE["services"]["app"]
    assert collector["healthcheck"]["test"] == ["CMD", "/healthcheck"]
    assert app["depends_on"]["collector"]["condition"] == "service_healthy"


def test_compose_collector_runs_the_repository_config():
    collector = COMPOSE["services"]["collector"]
    assert "./collector:/etc/agentcreator:ro" in collector["volumes"]
    assert "--config=/etc/agentcreator/otel-config.yaml" in collector["command"]
    from agentcreator.collector import INFRA_PROVIDED_ENV, render_config, required_env

    assert required_env(render_config(langfuse_enabled=True)) <= set(collector["environment"]) <= INFRA_PROVIDED_ENV


def test_compose_app_reaches_the_collector_on_loopback_like_ecs():
    app = COMPOSE["services"]["app"]
    assert app["network_mode"] == "service:collector"
    assert app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"


@pytest.mark.parametrize("name", ["app", "collector", "phoenix"])
def test_compose_services_publish_only_on_localhost(name):
    for port in COMPOSE["services"][name].get("ports", []):
        assert port.startswith("127.0.0.1:")
