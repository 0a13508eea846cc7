"""Every Lambda function in the stacks (the redeploy function, and any added later): a dead-letter
queue, reserved concurrency, an encrypted log group with retention, no secret in its environment."""

from __future__ import annotations

import json
import re

import pytest

from agentcreator.collector import secret_name
from agentcreator_infra.canary import checker_concurrency
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
    functions = _functions(raw)
    for name, function in functions.items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        if name.startswith("Redeploy"):  # one redeploy at a time is all it needs
            assert reserved == settings.security.lambda_reserved_concurrency
        else:  # the canary checker: every task's canary may be in flight at once
            assert name.startswith("Canary")
            assert reserved == checker_concurrency(settings, settings.canary) > settings.max_count
        assert configs[name]["MaximumRetryAttempts"] <= 2
        assert configs[name]["MaximumEventAgeInSeconds"] <= 3600
    assert len(functions) == 1 + (settings.canary is not None)


@pytest.mark.parametrize("env", ALL)
def test_each_function_logs_to_its_own_group_with_retention_and_the_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    groups = resources(raw, "AWS::Logs::LogGroup")
    own = [ref(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in _functions(raw).values()]
    assert len(set(own)) == len(own)
    for function in _functions(raw).values():
        group = groups[ref(function["Properties"]["LoggingConfig"]["LogGroup"])]["Properties"]
        assert group["RetentionInDays"] == settings.log_retention_days
        assert ("KmsKeyId" in group) == (settings.security.kms_key != "none")
        assert ("KmsKeyArn" in function["Properties"]) == (settings.security.kms_key != "none")


_SECRETISH = re.compile(r"SECRET|TOKEN|PASSWORD|KEY|AUTH", re.IGNORECASE)


@pytest.mark.parametrize("env", ALL)
def test_function_environments_hold_identifiers_only(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    secret = next(iter(resources(raw, "AWS::SecretsManager::Secret")))
    for name, function in _functions(raw).items():
        variables = function["Properties"]["Environment"]["Variables"]
        if name.startswith("Redeploy"):
            assert set(variables) == set(FUNCTION_ENVIRONMENT)
        assert "resolve:secretsmanager" not in json.dumps(variables)
        for variable, value in variables.items():
            if _SECRETISH.search(variable):
                # a Ref to a secret is its ARN, not its value; the name is the shared convention
                assert value in ({"Ref": secret}, secret_name(env)), (name, variable)


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


@pytest.mark.parametrize("env", ["prod", "qa"])
def test_each_function_may_encrypt_its_dead_letters_with_the_key(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    for name, function in _functions(raw).items():
        role = ref(function["Properties"]["Role"])
        policies = [p["Properties"] for p in resources(raw, "AWS::IAM::Policy").values()]
        statements = [s for p in policies if {"Ref": role} in p["Roles"] for s in p["PolicyDocument"]["Statement"]]
        kms = [s for s in statements if "kms:GenerateDataKey" in s["Action"]]
        assert len(kms) == 1 and set(kms[0]["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}, name
        # only while SQS uses the key for the role, never the role on its own
        via = kms[0]["Condition"]["StringEquals"]["kms:ViaService"]
        region = settings.region or {"Ref": "AWS::Region"}
        assert via in (f"sqs.{settings.region}.amazonaws.com", {"Fn::Join": ["", ["sqs.", region, ".amazonaws.com"]]})
        if settings.security.imported_key_arn:
            assert kms[0]["Resource"] == settings.security.imported_key_arn
        # no other statement lets the role use the key
        assert all("Condition" in s for s in statements if any(a.startswith("kms:") for a in _actions(s))), name
        queue = ref(function["Properties"]["DeadLetterConfig"]["TargetArn"])
        assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}} \
            in statements, name
