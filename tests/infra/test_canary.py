"""The delivery canary in each synthesized stack: emission schedule, checker, narrow IAM, metrics, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.conftest import ENVIRONMENTS, containers, dashboard, environment_of, one, resources

each_env = pytest.mark.parametrize("env", ENVIRONMENTS)
NAMESPACE = "AgentCreator/Canary"


def _checker(raw: dict) -> tuple[str, dict]:
    found = {key: value for key, value in resources(raw, "AWS::Lambda::Function").items()
             if value["Properties"].get("Handler") == "readback.handler"}
    assert len(found) == 1
    return next(iter(found.items()))


def _statements(raw: dict, role: str) -> list[dict]:
    return [s for p in resources(raw, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


@each_env
def test_each_task_sends_a_canary_on_the_environments_schedule(synthesized, settings, env):
    app = environment_of(containers(synthesized.raw[env])["app"])
    assert app["AGENTCREATOR_CANARY_INTERVAL_S"] == str(settings[env].canary.interval_s)


@each_env
def test_the_task_log_lines_reach_the_checker(synthesized, env):
    raw = synthesized.raw[env]
    key, _ = _checker(raw)
    subscription = one(raw, "AWS::Logs::SubscriptionFilter")["Properties"]
    assert subscription["FilterPattern"] == '"canary emitted"'
    assert subscription["DestinationArn"] == {"Fn::GetAtt": [key, "Arn"]}
    app_logs = containers(raw)["app"]["LogConfiguration"]["Options"]["awslogs-group"]
    assert subscription["LogGroupName"] == app_logs
    [permission] = [p["Properties"] for p in resources(raw, "AWS::Lambda::Permission").values()
                    if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [key, "Arn"]}]
    assert permission["Principal"] == "logs.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [app_logs["Ref"], "Arn"]}


@each_env
def test_the_checker_waits_out_the_timeout_and_knows_its_backends(synthesized, settings, env):
    raw = synthesized.raw[env]
    _, function = _checker(raw)
    props = function["Properties"]
    variables = props["Environment"]["Variables"]
    assert variables["TIMEOUT_S"] == str(settings[env].canary.timeout_s)
    assert props["Timeout"] == settings[env].canary.timeout_s + 30
    assert variables["XRAY_READ"] == "auto" and variables["ENVIRONMENT"] == env
    assert variables["LANGFUSE_HOST"] == "https://cloud.langfuse.com"
    assert variables["LANGFUSE_SECRET_ARN"] == {"Ref": next(iter(resources(raw, "AWS::SecretsManager::Secret")))}


@each_env
def test_the_checker_asset_is_the_readback_module_alone(synthesized, env):
    _, function = _checker(synthesized.raw[env])
    asset = "asset." + function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    assert sorted(p.name for p in (synthesized.outdir / asset).iterdir()) == ["readback.py"]


@each_env
def test_the_checker_may_read_backends_write_its_metrics_and_nothing_else(synthesized, env):
    raw = synthesized.raw[env]
    _, function = _checker(raw)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    by_action = {tuple(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])): s
                 for s in _statements(raw, role)}
    assert set(by_action) == {
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        ("xray:BatchGetTraces", "xray:GetTraceSegmentDestination", "xray:ListRetrievedTraces",
         "xray:StartTraceRetrieval"),
        ("cloudwatch:PutMetricData",),
        ("secretsmanager:GetSecretValue",),
        # the environment key (docs/security.md): the secret through Secrets Manager, and dead letters
        ("kms:Decrypt",),
        ("kms:Decrypt", "kms:GenerateDataKey"),
        ("sqs:SendMessage",),
    }
    # neither lets the role use the key on its own: only Secrets Manager, resp. SQS, for it
    for actions, service in ((("kms:Decrypt",), "secretsmanager."), (("kms:Decrypt", "kms:GenerateDataKey"), "sqs.")):
        via = by_action[actions]["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == {"Fn::Join": ["", [service, {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    metrics = by_action[("cloudwatch:PutMetricData",)]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    secret = next(iter(resources(raw, "AWS::SecretsManager::Secret")))
    assert by_action[("secretsmanager:GetSecretValue",)]["Resource"] == {"Ref": secret}
    own_logs = function["Properties"]["LoggingConfig"]["LogGroup"]
    assert by_action[("logs:CreateLogStream", "logs:PutLogEvents")]["Resource"] == {
        "Fn::GetAtt": [own_logs["Ref"], "Arn"]}
    assert not [r for r in resources(raw, "AWS::IAM::Role").values() if r["Properties"].get("ManagedPolicyArns")
                and any("Canary" in json.dumps(x) for x in r["Properties"]["ManagedPolicyArns"])]


def _dims(alarm: dict) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def _alarms(raw: dict) -> list[dict]:
    return [a["Properties"] for a in resources(raw, "AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("Namespace") == NAMESPACE]


@each_env
def test_a_backend_without_a_delivered_canary_in_the_window_alarms_missing_data_included(synthesized, settings, env):
    raw = synthesized.raw[env]
    topic = {"Ref": next(iter(resources(raw, "AWS::SNS::Topic")))}
    missing = {_dims(a)["Backend"]: a for a in _alarms(raw) if a["MetricName"] == "Delivered"}
    assert set(missing) == {"xray", "langfuse"}
    for alarm in missing.values():
        assert _dims(alarm)["Environment"] == env
        assert alarm["Statistic"] == "Sum" and alarm["Period"] == settings[env].canary.window_minutes * 60
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
        assert alarm["TreatMissingData"] == "breaching"
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]


@each_env
def test_delivery_latency_over_the_environments_threshold_alarms(synthesized, settings, env):
    raw = synthesized.raw[env]
    slow = {_dims(a)["Backend"]: a for a in _alarms(raw) if a["MetricName"] == "DeliveryLatency"}
    assert set(slow) == {"xray", "langfuse"}
    for alarm in slow.values():
        assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
        assert alarm["Threshold"] == settings[env].canary.latency_threshold_s
        assert alarm["TreatMissingData"] == "notBreaching"


@each_env
def test_the_dashboard_shows_the_canary(synthesized, env):
    body = json.dumps(dashboard(synthesized.raw[env], f"AgentCreator-{env}")["Properties"]["DashboardBody"])
    assert "Canary: sent vs delivered per backend" in body and "Canary delivery latency" in body
    assert "Canary alarms" in body


@each_env
def test_the_stack_says_where_the_canaries_are_logged(synthesized, env):
    outputs = synthesized.raw[env]["Outputs"]
    assert "AppLogGroupName" in outputs


def test_no_langfuse_no_langfuse_checks(variant):
    raw = variant.raw["qa"]
    _, function = _checker(raw)
    assert "LANGFUSE_SECRET_ARN" not in function["Properties"]["Environment"]["Variables"]
    assert {_dims(a)["Backend"] for a in _alarms(raw)} == {"xray"}
    assert not [s for p in resources(raw, "AWS::IAM::Policy").values()
                for s in p["Properties"]["PolicyDocument"]["Statement"] if "secretsmanager:GetSecretValue" in
                json.dumps(s) and {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]} in p["Properties"]["Roles"]]


def test_the_shipped_checker_runs_on_the_standard_library_alone(synthesized):
    """The Lambda gets readback.py and nothing of ours: it must import and parse with no site-packages."""
    import subprocess
    import sys

    _, function = _checker(synthesized.raw["dev"])
    asset = synthesized.outdir / ("asset." + function["Properties"]["Code"]["S3Key"].removesuffix(".zip"))
    line = "canary emitted trace_id=" + "ab" * 16 + " session_id=s emitted_at=12.5"
    probe = f"import sys; sys.path.insert(0, {str(asset)!r}); import readback; print(readback.canaries_in([{line!r}]))"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], cwd=asset, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "Sent(trace_id='abababababababababababababababab', emitted_at=12.5, session_id='s')" in done.stdout


def _parse(**canary):
    from agentcreator_infra.settings import parse_settings

    raw = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    base = dict(raw["context"]["agentcreator:environments"]["dev"])
    base["canary"] = canary
    return parse_settings("dev", base)


def test_canary_settings_are_checked_with_one_line_naming_the_key():
    from agentcreator_infra.settings import SettingsError

    good = {"interval_s": 300, "timeout_s": 180, "window_minutes": 15, "latency_threshold_s": 90}
    assert _parse(**good).canary.window_minutes == 15
    for bad, message in (
        ({"interval_s": 30}, "`canary.interval_s` must be 60..3600"),
        ({"timeout_s": 900}, "`canary.timeout_s` must be 30..800"),
        ({"window_minutes": 12}, "`canary.window_minutes` must cover two canaries and a timeout .at least 13 minutes."),
        ({"latency_threshold_s": 180}, "`canary.latency_threshold_s` must be 1..179"),
    ):
        with pytest.raises(SettingsError, match=message):
            _parse(**(good | bad))


def test_without_canary_settings_there_is_no_canary():
    from agentcreator_infra.settings import parse_settings

    raw = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    base = {k: v for k, v in raw["context"]["agentcreator:environments"]["dev"].items() if k != "canary"}
    assert parse_settings("dev", base).canary is None
