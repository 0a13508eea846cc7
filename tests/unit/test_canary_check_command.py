"""`agentcreator canary check` as an operator sees it: one line per backend and the exit code."""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from agentcreator.canary.readback import xray_trace_id
from agentcreator.cli import main
from agentcreator.commands.canary_check import app_log_group
from agentcreator.config import langfuse_authorization
from tests.support.langfuse_api import LangfuseApi

REGION = "us-east-1"
PK, SK = "pk-lf-fake", "sk-lf-fake"
FOUND = "5f3e1d2c4b6a79880123456789abcdef"
MISSING = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        now = time.time()
        segment = {"trace_id": xray_trace_id(FOUND), "id": "53995c3f42cd8ad8", "name": "agentcreator-meta-agent",
                   "start_time": now - 1, "end_time": now}
        session.client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)])
        yield session


@pytest.fixture
def langfuse():
    with LangfuseApi(langfuse_authorization(PK, SK)) as api:
        api.add(FOUND)
        yield api


def _check(langfuse, *extra: str) -> list[str]:
    return ["canary", "check", "--env", "dev", "--xray-read", "batch-get-traces", "--langfuse-host", langfuse.url,
            "--timeout", "1", "--poll", "0.2", *extra]


def test_a_delivered_canary_is_one_line_per_backend_and_exit_0(aws, langfuse, monkeypatch, capsys):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    assert main(_check(langfuse, "--trace-id", FOUND)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(rf"canary {FOUND}, sent \d+ s ago", lines[0])  # seconds: the machine's load decides
    assert sorted(line.split()[0] for line in lines[1:]) == ["langfuse", "xray"]
    assert all(" delivered after " in line for line in lines[1:])


def test_a_missing_canary_says_not_found_and_exits_1(aws, langfuse, monkeypatch, capsys):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    assert main(_check(langfuse, "--trace-id", MISSING)) == 1
    out = capsys.readouterr().out
    assert f"xray      not delivered: not found 1 s after it was sent (trace {MISSING})" in out
    assert f"langfuse  not delivered: not found 1 s after it was sent (trace {MISSING})" in out


def test_refused_credentials_say_auth(aws, langfuse, monkeypatch, capsys):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-revoked")
    assert main(_check(langfuse, "--trace-id", FOUND)) == 1
    out = capsys.readouterr().out
    assert f"langfuse  not delivered: auth (HTTP 401 from {langfuse.url}) (trace {FOUND})" in out
    assert "xray      delivered after" in out


def test_without_a_trace_id_it_checks_the_newest_canary_the_tasks_logged(aws, langfuse, capsys):
    group = "/agentcreator/dev/app"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app/app/task1")
    now = time.time()
    lines = [(now - 200, MISSING), (now - 2, FOUND)]  # the newest is the one to check
    logs.put_log_events(logGroupName=group, logStreamName="app/app/task1", logEvents=[
        {"timestamp": int(at * 1000), "message": f"INFO agentcreator.canary.emit: canary emitted trace_id={trace} "
                                                 f"session_id=agentcreator-canary-dev emitted_at={at:.3f}"}
        for at, trace in lines] + [{"timestamp": int(now * 1000), "message": "INFO something else"}])
    # the Langfuse header comes from the environment's own secret when no keys are set here
    aws.client("secretsmanager").create_secret(Name="agentcreator/dev/langfuse-otlp-authorization",
                                               SecretString=langfuse_authorization(PK, SK))
    assert main(_check(langfuse, "--log-group", group)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"canary {FOUND}, sent ")  # the newer of the two logged
    assert out.count(" delivered after ") == 2


def test_no_logged_canary_says_what_to_set(aws, langfuse, capsys):
    aws.client("logs").create_log_group(logGroupName="/empty")
    assert main(_check(langfuse, "--log-group", "/empty")) == 1
    err = capsys.readouterr().err
    assert "no canary logged in /empty in the last hour: is AGENTCREATOR_CANARY_INTERVAL_S set?" in err


class _Session:
    def __init__(self, client):
        self._client = client

    def client(self, name):
        return self._client


def test_the_log_group_is_the_stacks_output():
    client = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [{
            "StackName": "AgentCreator-dev", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "AppLogGroupName", "OutputValue": "AgentCreator-dev-ServiceAppLogs-x"}]}]},
            {"StackName": "AgentCreator-dev"})
        assert app_log_group(_Session(client), "dev") == "AgentCreator-dev-ServiceAppLogs-x"


def test_a_missing_stack_is_one_readable_line(capsys):
    client = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id AgentCreator-dev does not exist")
        with pytest.raises(Exception, match="cannot read stack AgentCreator-dev: ValidationError"):
            app_log_group(_Session(client), "dev")


@pytest.mark.parametrize(("args", "message"), [
    (["--trace-id", "XYZ"], "--trace-id 'XYZ' is not 32 lower-case hex digits"),
    (["--sent-at", "1"], "--sent-at needs --trace-id"),
    (["--trace-id", FOUND, "--timeout", "0"], "--timeout and --poll must be positive"),
])
def test_bad_input_is_exit_2_with_one_line(args, message, capsys):
    assert main(["canary", "check", "--env", "dev", *args]) == 2
    assert capsys.readouterr().err == f"agentcreator canary check: error: {message}\n"


def test_an_unknown_backend_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["canary", "check", "--env", "dev", "--backend", "jaeger"])
    assert exit_info.value.code == 2
