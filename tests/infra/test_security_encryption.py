"""Encryption with the customer's key: one KMS key per environment (created, imported, or none)
for the Langfuse secret, every log group, the alarm topic and the redeploy function's queue."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import ENVIRONMENTS, VARIANTS, one, ref, resources

ALL = ENVIRONMENTS + VARIANTS


def _env(synthesized, variant, env):
    found = synthesized if env in synthesized.raw else variant
    return found.raw[env], found.settings[env]


def _key_reference(raw: dict, settings) -> object:
    """What a resource encrypted with the environment key points at (None: AWS-owned keys)."""
    if settings.security.creates_key:
        keys = [k for k, v in resources(raw, "AWS::KMS::Key").items()
                if v["Properties"]["Description"].startswith(f"AgentCreator {settings.name}: Langfuse secret")]
        assert len(keys) == 1
        return {"Fn::GetAtt": [keys[0], "Arn"]}
    return settings.security.imported_key_arn


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shipped_environments_create_their_own_rotating_key(synthesized, env):
    raw, settings = synthesized.raw[env], synthesized.settings[env]
    assert settings.security.kms_key == "create"
    key = resources(raw, "AWS::KMS::Key")[_key_reference(raw, settings)["Fn::GetAtt"][0]]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # logs and the secret stay readable after a stack deletion
    alias = one(raw, "AWS::KMS::Alias")["Properties"]
    assert alias["AliasName"] == f"alias/agentcreator/{env}"


@pytest.mark.parametrize("env", ALL)
def test_every_log_group_uses_the_environment_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    groups = resources(raw, "AWS::Logs::LogGroup")
    expected = _key_reference(raw, settings)
    for name, group in groups.items():
        assert group["Properties"].get("KmsKeyId") == expected, name
        assert group["Properties"]["RetentionInDays"] == settings.log_retention_days, name
    # ... among them the groups the containers, each function and the VPC flow logs write to
    task = one(raw, "AWS::ECS::TaskDefinition")["Properties"]
    used = {ref(c["LogConfiguration"]["Options"]["awslogs-group"]) for c in task["ContainerDefinitions"]}
    functions = resources(raw, "AWS::Lambda::Function").values()
    used |= {ref(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in functions}
    used.add(ref(one(raw, "AWS::EC2::FlowLog")["Properties"]["LogGroupName"]))
    assert used <= set(groups) and len(used) == 2 + len(functions) + 1
    # and the collector's and the app's metrics groups, which only awsemf writes to
    for suffix in ("/collector-metrics", "/app-metrics"):
        assert [v for v in groups.values() if v["Properties"].get("LogGroupName", "").endswith(suffix)], suffix


@pytest.mark.parametrize("env", ALL)
def test_secret_queues_and_function_environments_use_the_environment_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    expected = _key_reference(raw, settings)
    assert one(raw, "AWS::SecretsManager::Secret")["Properties"].get("KmsKeyId") == expected
    for function in resources(raw, "AWS::Lambda::Function").values():
        assert function["Properties"].get("KmsKeyArn") == expected
    queues = resources(raw, "AWS::SQS::Queue").values()
    assert queues
    for queue in queues:
        if expected is None:
            assert queue["Properties"]["SqsManagedSseEnabled"] is True
        else:
            assert queue["Properties"]["KmsMasterKeyId"] == expected


@pytest.mark.parametrize("env", ALL)
def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    topic = one(raw, "AWS::SNS::Topic")["Properties"]
    expected = _key_reference(raw, settings)
    if expected is not None:
        assert topic["KmsMasterKeyId"] == expected
        return
    # No environment key: the topic keeps a key of its own, since alarms cannot use AWS-owned keys.
    key = ref(topic["KmsMasterKeyId"])
    statements = resources(raw, "AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


def _statements(raw: dict, settings) -> list[dict]:
    key = _key_reference(raw, settings)["Fn::GetAtt"][0]
    return resources(raw, "AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_created_key_policy_lets_in_each_service_under_a_condition(synthesized, env):
    raw, settings = synthesized.raw[env], synthesized.settings[env]
    statements = _statements(raw, settings)
    rendered = json.dumps(statements)
    assert '"*"}' not in rendered.replace('"Resource": "*"}', "")  # no wildcard principal anywhere
    by_principal = {json.dumps(s["Principal"]): s for s in statements}
    logs = next(s for p, s in by_principal.items() if '"logs.", {"Ref": "AWS::Region"}' in p)
    assert "kms:GenerateDataKey*" in logs["Action"] and "kms:Decrypt*" in logs["Action"]
    context = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert context["Fn::Join"][1][-1] == ":log-group:*"
    alarms = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    events = by_principal[json.dumps({"Service": "events.amazonaws.com"})]
    assert "aws:SourceArn" in events["Condition"]["ArnLike"]
    via_secrets_manager = [s for s in statements
                           if "secretsmanager." in json.dumps(s.get("Condition", {}).get("StringEquals", {}))]
    execution_role = ref(one(raw, "AWS::ECS::TaskDefinition")["Properties"]["ExecutionRoleArn"])
    assert any(ref(s["Principal"]["AWS"]) == execution_role for s in via_secrets_manager)
    assert all(s["Condition"]["StringEquals"]["kms:ViaService"] for s in via_secrets_manager)


def test_an_imported_key_is_referenced_not_created(variant):
    raw, settings = variant.raw["qa"], variant.settings["qa"]
    assert settings.security.imported_key_arn
    assert not [k for k, v in resources(raw, "AWS::KMS::Key").items()]  # its policy is the owner's
    assert settings.security.imported_key_arn in json.dumps(resources(raw, "AWS::IAM::Policy"))


def test_no_key_means_aws_owned_keys_and_only_the_topic_key(variant):
    raw = variant.raw["lab"]
    keys = resources(raw, "AWS::KMS::Key")
    assert [v["Properties"]["Description"] for v in keys.values()] == ["AgentCreator lab alarm topic"]
