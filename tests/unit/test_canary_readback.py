"""The checker against moto's X-Ray, CloudWatch and Secrets Manager and a local Langfuse API stand-in."""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from agentcreator.canary import readback
from agentcreator.canary.readback import LangfuseReader, Sent, XRayReader, check, xray_trace_id
from tests.support.langfuse_api import LangfuseApi

AUTH = "Basic " + base64.b64encode(b"pk-lf-fake:sk-lf-fake").decode()
FOUND = "5f3e1d2c4b6a79880123456789abcdef"
MISSING = "0123456789abcdef0123456789abcdef"
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def langfuse():
    with LangfuseApi(AUTH) as api:
        yield api


def _put_segment(session, trace_id: str) -> None:
    now = time.time()
    document = {"trace_id": xray_trace_id(trace_id), "id": "53995c3f42cd8ad8", "name": "agentcreator-meta-agent",
                "start_time": now - 1, "end_time": now}
    session.client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(document)])


def test_xray_ids_are_the_otel_id_split_as_xray_writes_it():
    assert xray_trace_id(FOUND) == "1-5f3e1d2c-4b6a79880123456789abcdef"


def test_batch_get_traces_finds_a_stored_trace_and_not_another(aws):
    _put_segment(aws, FOUND)
    reader = XRayReader(aws.client("xray"), "batch-get-traces")
    assert reader.look(Sent(FOUND, time.time())).state == "found"
    assert reader.look(Sent(MISSING, time.time())).state == "missing"


def test_langfuse_found_missing_and_unauthorised(langfuse):
    assert LangfuseReader(langfuse.url, AUTH).look(Sent(MISSING, time.time())).state == "missing"
    langfuse.add(FOUND)
    assert LangfuseReader(langfuse.url, AUTH).look(Sent(FOUND, time.time())).state == "found"
    refused = LangfuseReader(langfuse.url, "Basic d3Jvbmc6a2V5").look(Sent(FOUND, time.time()))
    assert (refused.state, refused.detail) == ("auth", f"HTTP 401 from {langfuse.url}")
    assert langfuse.requests[0].startswith(f"/api/public/v2/observations?traceId={MISSING}&")


def test_a_backend_that_does_not_answer_in_time_is_a_timeout():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        host, port = silent.getsockname()[:2]
        look = LangfuseReader(f"http://{host}:{port}", AUTH, request_timeout_s=0.3).look(Sent(FOUND, time.time()))
    assert look.state == "timeout"


class _Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_check_polls_until_found_and_measures_from_the_send(langfuse, aws):
    sent = 1_000_000.0
    clock = _Clock(sent + 2)
    arrivals = iter([False, False, True])  # Langfuse gets it between the 2nd and 3rd look

    class Arriving(LangfuseReader):
        def look(self, canary):
            if next(arrivals):
                langfuse.add(canary.trace_id)
            return super().look(canary)

    outcomes = check([Sent(FOUND, sent)], [Arriving(langfuse.url, AUTH)], timeout_s=60, poll_s=5,
                     clock=clock, sleep=clock.sleep)
    found = [(o.backend, o.delivered, o.latency_s, o.reason) for o in outcomes]
    assert found == [("langfuse", True, 12.0, "delivered")]  # first seen at the 3rd look, 12 s after the send


def test_check_gives_up_at_the_timeout_and_stops_at_once_on_auth(langfuse, aws):
    sent = 1_000_000.0
    clock = _Clock(sent + 1)
    readers = [XRayReader(aws.client("xray"), "batch-get-traces"), LangfuseReader(langfuse.url, "Basic bm9wZTpubw==")]
    outcomes = check([Sent(MISSING, sent)], readers, timeout_s=30, poll_s=10, clock=clock, sleep=clock.sleep)
    by_backend = {o.backend: o for o in outcomes}
    assert by_backend["langfuse"].reason == f"auth (HTTP 401 from {langfuse.url})"
    assert by_backend["xray"].reason == "not found 31 s after it was sent"
    assert not any(o.delivered for o in outcomes)
    assert sum(1 for path in langfuse.requests) == 1  # refused credentials are not retried


def test_transaction_search_retrieval_when_spans_go_to_cloudwatch_logs():
    client = boto3.client("xray", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response("get_trace_segment_destination", {"Destination": "CloudWatchLogs", "Status": "ACTIVE"})
    stubber.add_response("start_trace_retrieval", {"RetrievalToken": "tok"},
                         {"TraceIds": [xray_trace_id(FOUND)], "StartTime": 700.0, "EndTime": ANY})
    stubber.add_response("list_retrieved_traces", {"RetrievalStatus": "RUNNING", "TraceFormat": "OTEL", "Traces": []})
    stubber.add_response("list_retrieved_traces", {"RetrievalStatus": "COMPLETE", "TraceFormat": "OTEL",
                                                   "Traces": [{"Id": xray_trace_id(FOUND), "Spans": []}]})
    stubber.add_response("start_trace_retrieval", {"RetrievalToken": "tok2"})
    stubber.add_response("list_retrieved_traces", {"RetrievalStatus": "COMPLETE", "TraceFormat": "OTEL", "Traces": []})
    with stubber:
        reader = XRayReader(client, "auto", sleep=lambda s: None)
        assert reader.look(Sent(FOUND, 1000.0)).state == "found"
        assert reader.look(Sent(MISSING, 1000.0)).state == "missing"
    stubber.assert_no_pending_responses()


def _subscription_event(*messages: str) -> dict:
    payload = {"messageType": "DATA_MESSAGE", "logGroup": "/app", "logEvents": [
        {"id": str(i), "timestamp": 0, "message": message} for i, message in enumerate(messages)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def _line(trace_id: str, at: float) -> str:
    return f"2026-01-01 00:00:00,000 INFO agentcreator.canary.emit: canary emitted trace_id={trace_id} " \
           f"session_id=agentcreator-canary-dev emitted_at={at:.3f}"


def test_the_lambda_checks_each_logged_canary_and_publishes_per_backend(aws, langfuse, monkeypatch, capsys):
    secret_arn = aws.client("secretsmanager").create_secret(Name="agentcreator/dev/langfuse-otlp-authorization",
                                                            SecretString=AUTH)["ARN"]
    for name, value in {"ENVIRONMENT": "dev", "XRAY_READ": "batch-get-traces", "LANGFUSE_HOST": langfuse.url,
                        "LANGFUSE_SECRET_ARN": secret_arn, "TIMEOUT_S": "2", "POLL_S": "0.2"}.items():
        monkeypatch.setenv(name, value)
    now = time.time()
    _put_segment(aws, FOUND)
    langfuse.add(FOUND)
    event = _subscription_event(_line(FOUND, now - 1), "an unrelated line", _line(MISSING, now - 1))
    summary = readback.handler(event, None, session=aws)
    assert summary == {"canaries": 2, "delivered": 2, "checked": 4}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(x["canary"], x["backend"], x["delivered"]) for x in lines} == {
        (FOUND, "xray", True), (FOUND, "langfuse", True), (MISSING, "xray", False), (MISSING, "langfuse", False)}

    cloudwatch = aws.client("cloudwatch")
    start, end = datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=1)
    for backend in ("xray", "langfuse"):
        dims = [{"Name": "Environment", "Value": "dev"}, {"Name": "Backend", "Value": backend}]
        delivered = cloudwatch.get_metric_statistics(
            Namespace="AgentCreator/Canary", MetricName="Delivered", Dimensions=dims, StartTime=start, EndTime=end,
            Period=60, Statistics=["Sum", "SampleCount"])["Datapoints"]
        assert [(d["Sum"], d["SampleCount"]) for d in delivered] == [(1.0, 2.0)]  # one found, one not
        latency = cloudwatch.get_metric_statistics(
            Namespace="AgentCreator/Canary", MetricName="DeliveryLatency", Dimensions=dims, StartTime=start,
            EndTime=end, Period=60, Statistics=["Maximum", "SampleCount"])["Datapoints"]
        assert latency[0]["SampleCount"] == 1.0 and 0 < latency[0]["Maximum"] < 10


def test_the_lambda_ignores_a_batch_without_canaries(aws, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "dev")
    assert readback.handler(_subscription_event("nothing here"), None, session=aws) == {"canaries": 0}


def test_an_unreadable_secret_still_checks_xray_and_says_why_langfuse_was_not(aws, monkeypatch, capsys):
    for name, value in {"ENVIRONMENT": "dev", "XRAY_READ": "batch-get-traces", "LANGFUSE_HOST": "http://127.0.0.1:9",
                        "LANGFUSE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf",
                        "TIMEOUT_S": "1", "POLL_S": "0.2"}.items():
        monkeypatch.setenv(name, value)
    _put_segment(aws, FOUND)
    summary = readback.handler(_subscription_event(_line(FOUND, time.time())), None, session=aws)
    assert summary == {"canaries": 1, "delivered": 1, "checked": 2}
    lines = {x["backend"]: x for x in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines["xray"]["delivered"] is True
    assert lines["langfuse"]["reason"] == "auth (cannot read the Langfuse secret: ResourceNotFoundException)"
