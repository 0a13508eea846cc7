"""The redeploy Lambda against moto: the right service, forced; other secrets' events ignored."""

from __future__ import annotations

import importlib.util
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra.conftest import ROOT

REGION = "eu-west-1"
SECRET_NAME = "agentcreator/dev/langfuse-otlp-authorization"


def _handler_module() -> Any:
    spec = importlib.util.spec_from_file_location("redeploy_handler", ROOT / "infra" / "rotation" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Two services in one cluster and two secrets; the handler is configured for dev's."""
    ecs = boto3.client("ecs", region_name=REGION)
    cluster = ecs.create_cluster(clusterName="agentcreator-dev")["cluster"]["clusterArn"]
    task = ecs.register_task_definition(
        family="agentcreator", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    for name in ("agentcreator-dev-svc", "bystander-svc"):
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=task, desiredCount=1)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    ours = secrets.create_secret(Name=SECRET_NAME, SecretString="placeholder")["ARN"]
    other = secrets.create_secret(Name="agentcreator/prod/langfuse-otlp-authorization", SecretString="x")["ARN"]
    monkeypatch.setenv("CLUSTER_ARN", cluster)
    monkeypatch.setenv("SERVICE_NAME", "agentcreator-dev-svc")
    monkeypatch.setenv("SECRET_ARN", ours)
    monkeypatch.setenv("SECRET_NAME", SECRET_NAME)
    return {"cluster": cluster, "ours": ours, "other": other}


def _event(name: str, secret_id: str, **params: Any) -> dict:
    return {
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventSource": "secretsmanager.amazonaws.com", "eventName": name,
                   "requestParameters": {"secretId": secret_id, **params}},
    }


@pytest.fixture
def update_calls(world, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record UpdateService calls while still sending them to moto."""
    calls: list[dict] = []
    real_client = boto3.client

    def client(service: str, *args: Any, **kwargs: Any):
        made = real_client(service, *args, **kwargs)
        if service == "ecs":
            original = made.update_service

            def update_service(**request: Any):
                calls.append(request)
                return original(**request)

            made.update_service = update_service
        return made

    monkeypatch.setattr(boto3, "client", client)
    return calls


@pytest.mark.parametrize("event_name", ["PutSecretValue", "UpdateSecret", "RotateSecret"])
@pytest.mark.parametrize("how", ["name", "arn", "partial-arn"])
def test_a_change_of_our_secret_forces_a_deployment_of_our_service(world, update_calls, event_name, how):
    secret_id = {"name": SECRET_NAME, "arn": world["ours"], "partial-arn": world["ours"].rsplit("-", 1)[0]}[how]
    result = _handler_module().handler(_event(event_name, secret_id))
    assert result["redeployed"] is True
    assert update_calls == [{"cluster": world["cluster"], "service": "agentcreator-dev-svc",
                             "forceNewDeployment": True}]


def test_other_secrets_are_ignored(world, update_calls):
    handler = _handler_module().handler
    for secret_id in (world["other"], "agentcreator/prod/langfuse-otlp-authorization", "", SECRET_NAME + "-x"):
        assert handler(_event("PutSecretValue", secret_id))["redeployed"] is False
    assert update_calls == []


def test_failed_calls_reads_and_pending_versions_are_ignored(world, update_calls):
    handler = _handler_module().handler
    failed = _event("PutSecretValue", SECRET_NAME)
    failed["detail"]["errorCode"] = "AccessDenied"
    assert handler(failed)["redeployed"] is False
    assert handler(_event("GetSecretValue", SECRET_NAME))["redeployed"] is False
    assert handler(_event("PutSecretValue", SECRET_NAME, versionStages=["AWSPENDING"]))["redeployed"] is False
    assert handler(_event("UpdateSecretVersionStage", SECRET_NAME, versionStage="AWSPENDING"))["redeployed"] is False
    assert update_calls == []
    assert handler(_event("UpdateSecretVersionStage", SECRET_NAME, versionStage="AWSCURRENT"))["redeployed"]
    assert len(update_calls) == 1


def test_handler_uses_only_the_standard_library_and_boto3():
    source = (ROOT / "infra" / "rotation" / "handler.py").read_text()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.strip().startswith(("import ", "from ")) and "__future__" not in line}
    assert imported <= {"json", "logging", "os", "typing", "boto3"}
