"""The pipeline dashboard and its alarms read exactly what the collector's EMF export produces.

The names and dimension sets come from the synthesized collector configuration (the
AOT_CONFIG_CONTENT of each stack's task definition), never from a list kept here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agentcreator_infra.collector import APP_EMF_EXPORTER
from agentcreator_infra.pipeline_dashboard import AppMetrics, AppMetricsError
from tests.infra.conftest import (
    ENVIRONMENTS,
    alarm_metrics,
    containers,
    environment_of,
    pipeline_alarms,
    pipeline_dashboard_body,
    resources,
    widget_metrics,
)


def _app_emf(raw: dict) -> dict:
    config = yaml.safe_load(environment_of(containers(raw)["collector"])["AOT_CONFIG_CONTENT"])
    return config["exporters"][APP_EMF_EXPORTER]


def _exported(emf: dict) -> list[tuple[list[str], list[frozenset[str]]]]:
    return [(d["metric_name_selectors"], [frozenset(dims) for dims in d["dimensions"]])
            for d in emf["metric_declarations"]]


def _is_exported(emf: dict, name: str, dimensions: frozenset[str]) -> bool:
    return any(any(re.search(s, name) for s in selectors) and dimensions in sets
               for selectors, sets in _exported(emf))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_dashboard_metric_is_one_the_emf_export_produces(synthesized, env):
    raw = synthesized.raw[env]
    emf = _app_emf(raw)
    drawn = [m for m in widget_metrics(pipeline_dashboard_body(raw, env)) if m[0] == emf["namespace"]]
    assert len({name for _, name, _ in drawn}) >= 7
    for _, name, dimensions in drawn:
        assert dimensions["environment"] == env
        assert _is_exported(emf, name, frozenset(dimensions)), (name, dimensions)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alarm_metric_is_one_the_emf_export_produces(synthesized, env):
    raw = synthesized.raw[env]
    emf = _app_emf(raw)
    alarms = pipeline_alarms(raw)
    assert len(alarms) == 4
    for key, alarm in alarms.items():
        for metric in alarm_metrics(alarm):
            assert metric["Namespace"] == emf["namespace"], key
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert dimensions["environment"] == env
            assert _is_exported(emf, metric["MetricName"], frozenset(dimensions)), (key, metric)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_dashboard_shows_what_an_operator_asks_first(synthesized, env):
    text = json.dumps(pipeline_dashboard_body(synthesized.raw[env], env))
    for title in ("Invocations per minute and error rate", "Invocation duration p50 / p99",
                  "LLM calls and tokens per minute", "Cost per hour", "Review iterations to approval",
                  "Sandbox runs that failed", "Spans the app dropped before they reached the collector",
                  "Pipeline alarms"):
        assert title in text, title
    assert '"stat": "p99"' in text and '"stat": "p50"' in text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_use_the_environments_thresholds_and_the_alarm_topic(synthesized, settings, env):
    raw = synthesized.raw[env]
    limits = settings[env].pipeline_alarms
    alarms = pipeline_alarms(raw)
    topic = next(iter(resources(raw, "AWS::SNS::Topic")))

    def alarm(fragment: str) -> dict:
        (found,) = [a for key, a in alarms.items() if fragment in key]
        return found

    error_rate, p99, cost = alarm("ErrorRate"), alarm("P99Duration"), alarm("CostPerHour")
    assert error_rate["Threshold"] == limits.error_rate_percent
    assert "100 * FILL(errors, 0) / total" in json.dumps(error_rate["Metrics"])
    (p99_stat,) = [q["MetricStat"] for q in p99["Metrics"]]
    assert (p99["Threshold"], p99_stat["Stat"], p99_stat["Period"]) == (limits.p99_duration_s, "p99", 300)
    (cost_stat,) = [q["MetricStat"] for q in cost["Metrics"]]
    assert (cost["Threshold"], cost_stat["Stat"], cost_stat["Period"]) == (limits.cost_per_hour_usd, "Sum", 3600)
    dropped = alarm("AppDroppedSpans")  # any span lost in a minute, as the collector's loss alarms
    (dropped_stat,) = [q["MetricStat"] for q in dropped["Metrics"]]
    assert (dropped["Threshold"], dropped["ComparisonOperator"], dropped["EvaluationPeriods"]) == (
        0, "GreaterThanThreshold", 1)
    assert (dropped_stat["Metric"]["MetricName"], dropped_stat["Stat"], dropped_stat["Period"]) == (
        "agentcreator.spans.dropped", "Sum", 60)
    for props in alarms.values():
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": topic}]
        assert props["TreatMissingData"] == "notBreaching"
    thresholds = {e: settings[e].pipeline_alarms for e in ENVIRONMENTS}
    assert len({(t.error_rate_percent, t.p99_duration_s, t.cost_per_hour_usd) for t in thresholds.values()}) == 3


def test_a_metric_the_emf_export_does_not_produce_fails_synth(synthesized):
    metrics = AppMetrics(synthesized.stacks["dev"].collector, "dev")
    with pytest.raises(AppMetricsError, match="no metric 'agentcreator.not_exported'"):
        metrics.metric("agentcreator.not_exported", "Sum")
    with pytest.raises(AppMetricsError, match="gen_ai.request.model"):
        metrics.metric("agentcreator.invocations", "Sum", gen_ai__request__model="amazon.nova-pro-v1:0")


def test_pipeline_alarm_thresholds_are_validated():
    from agentcreator_infra.settings import SettingsError, parse_settings

    base = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    raw = dict(base["context"]["agentcreator:environments"]["dev"])
    for bad, message in (({"error_rate_percent": 0}, "error_rate_percent"), ({"p99_duration_s": 0}, "p99_duration_s"),
                         ({"cost_per_hour_usd": -1}, "cost_per_hour_usd"), ({"typo": 1}, "unknown keys")):
        with pytest.raises(SettingsError, match=message):
            parse_settings("dev", {**raw, "pipeline_alarms": bad})
    defaults = parse_settings("dev", {k: v for k, v in raw.items() if k != "pipeline_alarms"}).pipeline_alarms
    assert defaults.error_rate_percent > 0 and defaults.p99_duration_s > 0 and defaults.cost_per_hour_usd > 0
