"""Every Lambda function in the stacks (the redeploy function, and any added later): a dead-letter
queue, reserved concurrency, an encrypted log group with retention, no secret in its environment."""

from __future__ import annotations

import json

import pytest

from agentcreator_infra.secrets import FUNCTION_ENVIRONMENT
from tests.infra.conftest import ENVIRONMENTS, VARIANTS, ref, resources

ALL = ENVIRONMENTS + VARIANTS


def _env(synthesized, variant, env):
    found = synthesized if env in synthesized.raw else variant
    return found.raw[env], found.settings[env]


def _functions(raw: dict) -> dict[str, dict]:
    found = resources(raw, "AWS::Lambda::Function")
    assert found
    return found


@pytest.mark.parametrize("env", ALL)
def test_failed_invocations_land_in_an_encrypted_tls_only_queue(synthesized, variant, env):
    raw, _ = _env(synthesized, variant, env)
    queues = resources(raw, "AWS::SQS::Queue")
    for name, function in _functions(raw).items():
        queue = ref(function["Properties"]["DeadLetterConfig"]["TargetArn"])
        assert queue in queues, name
        properties = queues[queue]["Properties"]
        assert properties.get("KmsMasterKeyId") or properties.get("SqsManagedSseEnabled")
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
        policy = next(p for p in resources(raw, "AWS::SQS::QueuePolicy").values()
                      if {"Ref": queue} in p["Properties"]["Queues"])
        assert {"Bool": {"aws:SecureTransport": "false"}} in [
            s.get("Condition") for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    # The rule's own delivery failures go to the same queue.
    (rule,) = resources(raw, "AWS::Events::Rule").values()
    target = rule["Properties"]["Targets"][0]
    assert ref(target["DeadLetterConfig"]["Arn"]) in queues
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


@pytest.mark.parametrize("env", ALL)
def test_reserved_concurrency_and_bounded_async_retries(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    configs = {ref(c["Properties"]["FunctionName"]): c["Properties"]
               for c in resources(raw, "AWS::Lambda::EventInvokeConfig").values()}
    for name, function in _functions(raw).items():
        assert function["Properties"]["ReservedConcurrentExecutions"] == settings.security.lambda_reserved_concurrency
        assert configs[name]["MaximumRetryAttempts"] <= 2
        assert configs[name]["MaximumEventAgeInSeconds"] <= 3600


@pytest.mark.parametrize("env", ALL)
def test_each_function_logs_to_its_own_group_with_retention_and_the_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    groups = resources(raw, "AWS::Logs::LogGroup")
    for function in _functions(raw).values():
        group = groups[ref(function["Properties"]["LoggingConfig"]["LogGroup"])]["Properties"]
        assert group["RetentionInDays"] == settings.log_retention_days
        assert ("KmsKeyId" in group) == (settings.security.kms_key != "none")
        assert ("KmsKeyArn" in function["Properties"]) == (settings.security.kms_key != "none")


@pytest.mark.parametrize("env", ALL)
def test_function_environment_holds_identifiers_only(synthesized, variant, env):
    raw, _ = _env(synthesized, variant, env)
    secret = next(iter(resources(raw, "AWS::SecretsManager::Secret")))
    for function in _functions(raw).values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert set(variables) == set(FUNCTION_ENVIRONMENT)
        assert variables["SECRET_ARN"] == {"Ref": secret}  # a Ref to a secret is its ARN, not its value
        assert "resolve:secretsmanager" not in json.dumps(variables)


@pytest.mark.parametrize("env", ["prod", "qa"])
def test_the_function_may_encrypt_dead_letters_with_the_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    (function,) = _functions(raw).values()
    role = ref(function["Properties"]["Role"])
    statements = [s for p in resources(raw, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    kms = [s for s in statements if "kms:GenerateDataKey" in s["Action"]]
    assert len(kms) == 1 and set(kms[0]["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    if settings.security.imported_key_arn:
        assert kms[0]["Resource"] == settings.security.imported_key_arn
