"""Points 4 and 5: one secret per environment, collector-only, and a redeploy when it changes."""

from __future__ import annotations

import json

import pytest

from agentcreator.collector import secret_name
from tests.infra.conftest import ENVIRONMENTS, containers, one, resources

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


def _secret_ref(raw: dict) -> str:
    return next(iter(resources(raw, "AWS::SecretsManager::Secret")))


def _policies_of(raw: dict, role: str) -> list[dict]:
    return [s for p in resources(raw, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _redeploy_function(raw: dict) -> tuple[str, dict]:
    [(key, function)] = [(k, f) for k, f in resources(raw, "AWS::Lambda::Function").items()
                         if f["Properties"]["Handler"] == "handler.handler"]
    return key, function


def test_one_secret_named_by_the_shared_convention(synthesized, env):
    secret = one(synthesized.raw[env], "AWS::SecretsManager::Secret")["Properties"]
    assert secret["Name"] == secret_name(env) == f"agentcreator/{env}/langfuse-otlp-authorization"
    assert "SecretString" not in secret  # generated placeholder; the real header is set by the command


def test_secret_reaches_only_the_collector_through_ecs_secrets(synthesized, env):
    found = containers(synthesized.raw[env])
    assert found["collector"]["Secrets"] == [
        {"Name": "LANGFUSE_AUTHORIZATION", "ValueFrom": {"Ref": _secret_ref(synthesized.raw[env])}}
    ]
    assert "Secrets" not in found["app"]
    assert "LANGFUSE_AUTHORIZATION" not in json.dumps(found["app"])


def test_only_the_execution_role_may_read_the_secret(synthesized, env):
    raw = synthesized.raw[env]
    secret = _secret_ref(raw)
    readers = {role["Ref"] for p in resources(raw, "AWS::IAM::Policy").values()
               for s in p["Properties"]["PolicyDocument"]["Statement"]
               if s["Resource"] == {"Ref": secret} or s["Resource"] == [{"Ref": secret}]
               for role in p["Properties"]["Roles"]}
    task = one(raw, "AWS::ECS::TaskDefinition")["Properties"]
    # the execution role (for the collector's `secrets`) and the canary checker, which reads Langfuse back
    checker = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in resources(raw, "AWS::Lambda::Function").values()
               if f["Properties"].get("Handler") == "readback.handler"]
    assert readers == {task["ExecutionRoleArn"]["Fn::GetAtt"][0], *checker}
    assert task["TaskRoleArn"]["Fn::GetAtt"][0] not in readers
    assert not resources(raw, "AWS::SecretsManager::ResourcePolicy")


def test_rule_matches_changes_of_this_secret_only(synthesized, env):
    raw = synthesized.raw[env]
    rule = one(raw, "AWS::Events::Rule")["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.secretsmanager"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert {"PutSecretValue", "UpdateSecret", "RotateSecret"} <= set(pattern["detail"]["eventName"])
    ids = pattern["detail"]["requestParameters"]["secretId"]
    assert {"Ref": _secret_ref(raw)} in ids and secret_name(env) in ids
    function, _ = _redeploy_function(raw)
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert rule["State"] == "ENABLED"


def test_redeploy_lambda_may_update_this_service_only(synthesized, env):
    raw = synthesized.raw[env]
    function = _redeploy_function(raw)[1]["Properties"]
    role = function["Role"]["Fn::GetAtt"][0]
    statements = _policies_of(raw, role)
    service = next(iter(resources(raw, "AWS::ECS::Service")))
    ecs_statements = [s for s in statements if "ecs" in json.dumps(s["Action"])]
    assert ecs_statements == [{"Action": "ecs:UpdateService", "Effect": "Allow", "Resource": {"Ref": service}}]
    assert not resources(raw, "AWS::IAM::ManagedPolicy")
    assert "ManagedPolicyArns" not in resources(raw, "AWS::IAM::Role")[role]["Properties"]
    environment = function["Environment"]["Variables"]
    assert environment["SECRET_NAME"] == secret_name(env)
    assert environment["SERVICE_NAME"] == {"Fn::GetAtt": [service, "Name"]}
