"""The task role holds X-Ray, the collector-metrics log group and one Bedrock model only."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import ENVIRONMENTS, one, resources

XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def _task_role_statements(raw: dict) -> list[dict]:
    role = one(raw, "AWS::ECS::TaskDefinition")["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    return [s for p in resources(raw, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_task_role_statements(synthesized, settings, env):
    raw = synthesized.raw[env]
    statements = _task_role_statements(raw)
    by_service = {next(iter(_actions(s))).split(":")[0]: s for s in statements}
    assert set(by_service) == {"xray", "logs", "bedrock"}
    assert _actions(by_service["xray"]) == XRAY and by_service["xray"]["Resource"] == "*"
    logs = by_service["logs"]
    assert _actions(logs) == {"logs:PutLogEvents", "logs:CreateLogStream"}
    emf_groups = [k for suffix in ("/collector-metrics", "/app-metrics")
                  for k, v in resources(raw, "AWS::Logs::LogGroup").items()
                  if v["Properties"].get("LogGroupName", "").endswith(suffix)]
    assert len(emf_groups) == 2  # the collector's own metrics and the app's, nothing else
    assert logs["Resource"] == [{"Fn::GetAtt": [group, "Arn"]} for group in emf_groups]
    bedrock = by_service["bedrock"]
    assert _actions(bedrock) <= {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream",
                                 "bedrock:Converse", "bedrock:ConverseStream"}
    rendered = json.dumps(bedrock["Resource"])
    assert f"foundation-model/{settings[env].bedrock_model_id}" in rendered
    assert "foundation-model/*" not in rendered and '"*"' not in rendered
    assert not any("cloudwatch:PutMetricData" in _actions(s) for s in statements)
    assert not any("secretsmanager" in json.dumps(s) for s in statements)


def test_emf_log_group_is_the_one_the_collector_writes(synthesized):
    import yaml

    from agentcreator.collector import render_config

    exporters = yaml.safe_load(render_config(langfuse_enabled=True))["exporters"]
    emfs = [v for k, v in exporters.items() if k.startswith("awsemf")]
    assert len(emfs) == 2  # the collector's own metrics and the app's
    for env, raw in synthesized.raw.items():
        names = {v["Properties"].get("LogGroupName") for v in resources(raw, "AWS::Logs::LogGroup").values()}
        for emf in emfs:
            assert emf["log_group_name"].replace("${env:ENVIRONMENT}", env) in names


def test_inference_profile_model_grants_the_profile_and_its_model(variant):
    bedrock = next(s for s in _task_role_statements(variant.raw["qa"]) if "bedrock:InvokeModel" in _actions(s))
    rendered = json.dumps(bedrock["Resource"])
    assert "inference-profile/eu.amazon.nova-pro-v1:0" in rendered
    assert "foundation-model/amazon.nova-pro-v1:0" in rendered
