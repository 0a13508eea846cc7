"""Point 7: dashboard, alarms to SNS, optional Transaction Search."""

from __future__ import annotations

import json

import pytest
import yaml

from agentcreator.collector import render_config
from agentcreator_infra import collector_metrics as cm
from tests.infra.conftest import ENVIRONMENTS, one, resources


def _dashboard_body(raw: dict) -> str:
    body = one(raw, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return json.dumps(body)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_shows_collector_and_service_health(synthesized, env):
    body = _dashboard_body(synthesized.raw[env])
    for metric in (cm.ACCEPTED_SPANS, cm.RECEIVER_REFUSED_SPANS, cm.SENT_SPANS, cm.SEND_FAILED_SPANS,
                   cm.QUEUE_SIZE, cm.QUEUE_CAPACITY, cm.MEMORY_RSS, "ContainerCpuUtilized",
                   "ContainerMemoryUtilized", "RunningTaskCount", "DesiredTaskCount", "HTTPCode_Target_5XX_Count",
                   "TargetResponseTime", "RequestCount", "InputTokenCount", "OutputTokenCount"):
        assert metric in body, metric
    assert "AgentCreator/Collector" in body
    one_dashboard = one(synthesized.raw[env], "AWS::CloudWatch::Dashboard")
    assert one_dashboard["Properties"]["DashboardName"] == f"AgentCreator-{env}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_go_to_the_email_topic(synthesized, settings, env):
    raw = synthesized.raw[env]
    alarms = resources(raw, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    topic = next(iter(resources(raw, "AWS::SNS::Topic")))
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms.values())
    subscription = one(raw, "AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", settings[env].alarm_email)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_alarm_condition(synthesized, settings, env):
    alarms = {k: v["Properties"] for k, v in resources(synthesized.raw[env], "AWS::CloudWatch::Alarm").items()}

    def alarm(fragment: str) -> dict:
        return next(v for k, v in alarms.items() if fragment in k)

    failures = alarm("ExportFailures")
    assert (failures["Threshold"], failures["EvaluationPeriods"], failures["DatapointsToAlarm"]) == (0, 5, 5)
    assert cm.SEND_FAILED_SPANS in json.dumps(failures) and '"Period": 60' in json.dumps(failures)
    assert alarm("RefusedSpans")["Threshold"] == 0
    queue = alarm("QueueNearFull")
    assert queue["Threshold"] == 80 and "100 * size / capacity" in json.dumps(queue["Metrics"])
    memory = alarm("CollectorMemoryHigh")
    assert memory["Threshold"] == 80
    assert str(settings[env].collector_memory_mib * 1024 * 1024) in json.dumps(memory["Metrics"])
    running = alarm("RunningBelowDesired")
    assert running["Threshold"] == 0 and "DesiredTaskCount" in json.dumps(running["Metrics"])
    assert "HTTPCode_Target_5XX_Count" in json.dumps(alarm("Alb5xx")["Metrics"])


def test_metric_names_and_dimensions_match_the_collector_config():
    emf = next(v for k, v in yaml.safe_load(render_config(langfuse_enabled=True))["exporters"].items()
               if k.startswith("awsemf"))
    declaration = emf["metric_declarations"][0]
    selectors = " ".join(declaration["metric_name_selectors"])
    for name in cm.ALL:
        assert f"^{name}" in selectors, name
    assert list(cm.DIMENSIONS) in declaration["dimensions"]


def test_transaction_search_follows_its_flag(synthesized, settings, variant):
    for env in ENVIRONMENTS:
        found = resources(synthesized.raw[env], "AWS::XRay::TransactionSearchConfig")
        assert bool(found) == settings[env].transaction_search
    assert resources(variant.raw["qa"], "AWS::XRay::TransactionSearchConfig")
    assert resources(variant.raw["qa"], "AWS::Logs::ResourcePolicy")


def test_counts_and_sampling_differ_between_environments(settings):
    assert len({(s.desired_count, s.max_count) for s in settings.values()}) == 3
    assert len({s.sampling_percentage for s in settings.values()}) == 3
