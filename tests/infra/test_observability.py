"""Dashboard, alarms to SNS, optional Transaction Search."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from agentcreator.collector import CONFIG_PATH, load_metrics
from agentcreator_infra import collector_metrics as cm
from tests.infra.conftest import ENVIRONMENTS, containers, dashboard, environment_of, one, resources


def _dashboard_body(raw: dict, env: str) -> str:
    return json.dumps(dashboard(raw, f"AgentCreator-{env}")["Properties"]["DashboardBody"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_shows_collector_and_service_health(synthesized, env):
    body = _dashboard_body(synthesized.raw[env], env)
    for metric in (cm.ACCEPTED_SPANS, cm.RECEIVER_REFUSED_SPANS, cm.SENT_SPANS, cm.SEND_FAILED_SPANS,
                   cm.ENQUEUE_FAILED_SPANS, cm.MEMORY_LIMITER_REFUSED_SPANS,
                   cm.QUEUE_SIZE, cm.QUEUE_CAPACITY, cm.MEMORY_RSS, "ContainerCpuUtilized",
                   "ContainerMemoryUtilized", "RunningTaskCount", "DesiredTaskCount", "HTTPCode_Target_5XX_Count",
                   "TargetResponseTime", "RequestCount", "InputTokenCount", "OutputTokenCount"):
        assert metric in body, metric
    assert "AgentCreator/Collector" in body


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_go_to_the_email_topic(synthesized, settings, env):
    raw = synthesized.raw[env]
    alarms = resources(raw, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    topic = next(iter(resources(raw, "AWS::SNS::Topic")))
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms.values())
    subscription = one(raw, "AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", settings[env].alarm_email)


def _alarm_metrics(alarm: dict) -> list[dict]:
    """Every CloudWatch metric an alarm reads (a plain metric, or each one inside its math)."""
    if "MetricName" in alarm:
        return [{"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"],
                 "Dimensions": alarm.get("Dimensions", [])}]
    return [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]


def _collector_config(raw: dict) -> dict:
    return yaml.safe_load(environment_of(containers(raw)["collector"])["AOT_CONFIG_CONTENT"])


def _emf(config: dict) -> tuple[str, list[str], list[list[str]]]:
    emf = config["exporters"]["awsemf/collector"]
    declaration = emf["metric_declarations"][0]
    return emf["namespace"], declaration["metric_name_selectors"], declaration["dimensions"]


def _collector_alarms(raw: dict, namespace: str) -> dict[str, list[dict]]:
    """Alarm logical id -> the collector metrics it reads."""
    found: dict[str, list[dict]] = {}
    for key, alarm in resources(raw, "AWS::CloudWatch::Alarm").items():
        for metric in _alarm_metrics(alarm["Properties"]):
            if metric["Namespace"] == namespace:
                found.setdefault(key, []).append(metric)
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_read_only_metrics_the_shipped_config_and_this_collector_emit(synthesized, env):
    """Names come from the synthesized AOT_CONFIG_CONTENT's awsemf selectors and from the names a
    real ADOT v0.49.0 was seen to expose (collector/adot-metrics.txt), not from a list kept here."""
    raw = synthesized.raw[env]
    namespace, selectors, dimension_sets = _emf(_collector_config(raw))
    emitted = load_metrics(CONFIG_PATH.parent / "adot-metrics.txt").names
    alarms = _collector_alarms(raw, namespace)
    assert alarms
    for key, metrics in alarms.items():
        for metric in metrics:
            name = metric["MetricName"]
            assert any(re.search(selector, name) for selector in selectors), (key, name)
            assert name in emitted, (key, name)
            assert sorted(d["Name"] for d in metric["Dimensions"]) in [sorted(s) for s in dimension_sets], key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_way_the_collector_loses_spans_is_alarmed_from_the_first_span(synthesized, env):
    raw = synthesized.raw[env]
    namespace, _, _ = _emf(_collector_config(raw))
    alarms = _collector_alarms(raw, namespace)
    losses = load_metrics(CONFIG_PATH.parent / "adot-metrics.txt").losses
    watched = {metric["MetricName"] for metrics in alarms.values() for metric in metrics}
    assert losses and losses <= watched, losses - watched
    for key, metrics in alarms.items():
        if {metric["MetricName"] for metric in metrics} & losses:
            props = resources(raw, "AWS::CloudWatch::Alarm")[key]["Properties"]
            assert (props["Threshold"], props["EvaluationPeriods"], props["ComparisonOperator"]) == (
                0, 1, "GreaterThanThreshold"), key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_missing_collector_metrics_are_themselves_alarmed(synthesized, env):
    raw = synthesized.raw[env]
    namespace, _, _ = _emf(_collector_config(raw))
    heartbeat = [a["Properties"] for a in resources(raw, "AWS::CloudWatch::Alarm").values()
                 if a["Properties"].get("Namespace") == namespace
                 and a["Properties"].get("TreatMissingData") == "breaching"]
    assert len(heartbeat) == 1
    alarm = heartbeat[0]
    assert alarm["MetricName"] in load_metrics(CONFIG_PATH.parent / "adot-metrics.txt").at_start
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "SampleCount", "LessThanThreshold", 1)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_alarm_condition(synthesized, settings, env):
    alarms = {k: v["Properties"] for k, v in resources(synthesized.raw[env], "AWS::CloudWatch::Alarm").items()}

    def alarm(fragment: str) -> dict:
        return next(v for k, v in alarms.items() if fragment in k)

    queue = alarm("ExportBacklog")
    assert queue["Threshold"] == 10 and "100 * size / capacity" in json.dumps(queue["Metrics"])
    memory = alarm("CollectorMemoryHigh")
    assert memory["Threshold"] == 80
    assert str(settings[env].collector_memory_mib * 1024 * 1024) in json.dumps(memory["Metrics"])
    running = alarm("RunningBelowDesired")
    assert running["Threshold"] == 0 and "DesiredTaskCount" in json.dumps(running["Metrics"])
    assert "HTTPCode_Target_5XX_Count" in json.dumps(alarm("Alb5xx")["Metrics"])


def test_transaction_search_follows_its_flag(synthesized, settings, variant):
    for env in ENVIRONMENTS:
        found = resources(synthesized.raw[env], "AWS::XRay::TransactionSearchConfig")
        assert bool(found) == settings[env].transaction_search
        assert settings[env].transaction_search <= (settings[env].xray_mode == "otlp")
    assert resources(variant.raw["qa"], "AWS::XRay::TransactionSearchConfig")
    assert resources(variant.raw["qa"], "AWS::Logs::ResourcePolicy")


def test_counts_and_sampling_differ_between_environments(settings):
    assert len({(s.desired_count, s.max_count) for s in settings.values()}) == 3
    assert len({s.sampling_percentage for s in settings.values()}) == 3
