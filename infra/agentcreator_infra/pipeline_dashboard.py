"""The pipeline's dashboard and alarms for one environment, beside the collector's: what the agent does.

Invocations and their error rate, p50/p99 invocation duration, LLM calls and tokens per minute,
cost per hour, review iterations to approval, sandbox failures and the spans the app dropped
before they reached the collector, from the app's metrics
(docs/metrics.md) as the collector's ``awsemf/app`` exporter publishes them. Every metric is
built through ``AppMetrics``, which takes the namespace and the dimension sets from the
rendered collector configuration: a name or a dimension set its EMF export does not produce
fails synth instead of drawing an empty graph.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from constructs import Construct

from agentcreator.telemetry.export import DROP_REASONS
from agentcreator.telemetry.instruments import (
    COST,
    INVOCATIONS,
    INVOKE_AGENT_DURATION,
    OPERATION_DURATION,
    REVIEW_ITERATIONS,
    SANDBOX_RUNS,
    SPANS_DROPPED,
    TOKEN_USAGE,
)

if TYPE_CHECKING:
    from aws_cdk import aws_sns as sns

    from agentcreator_infra.collector import CollectorWiring
    from agentcreator_infra.settings import Settings

_MINUTE = Duration.minutes(1)
_FIVE_MINUTES = Duration.minutes(5)
_HOUR = Duration.hours(1)
ENVIRONMENT_DIMENSION = "environment"  # the label the collector's resource/app-metrics processor sets


class AppMetricsError(ValueError):
    """A metric or dimension set the collector's EMF export does not produce."""


class AppMetrics:
    """The app's metrics as CloudWatch has them: namespace and dimension sets from the rendered
    collector configuration's awsemf exporter for the app."""

    def __init__(self, collector: CollectorWiring, environment: str) -> None:
        exporter = collector.app_emf_exporter
        self.namespace: str = exporter["namespace"]
        self._declarations = [
            ([re.compile(selector) for selector in declaration.get("metric_name_selectors") or []],
             [frozenset(dimensions) for dimensions in declaration.get("dimensions") or []])
            for declaration in exporter.get("metric_declarations") or []
        ]
        self._environment = environment

    def dimension_sets(self, name: str) -> set[frozenset[str]]:
        """The dimension sets the EMF export gives ``name`` (empty: it exports no such metric)."""
        return {dimensions for selectors, sets in self._declarations if any(s.search(name) for s in selectors)
                for dimensions in sets}

    def metric(self, name: str, statistic: str, period: Duration = _MINUTE, label: str | None = None,
               **dimensions: str) -> cw.Metric:
        """``name`` in this environment, by exactly one of its declared dimension sets."""
        dimensions_map = {ENVIRONMENT_DIMENSION: self._environment,
                          **{key.replace("__", "."): value for key, value in dimensions.items()}}
        if frozenset(dimensions_map) not in self.dimension_sets(name):
            raise AppMetricsError(f"the collector's EMF export has no metric {name!r} with dimensions "
                                  f"{sorted(dimensions_map)} (namespace {self.namespace})")
        return cw.Metric(namespace=self.namespace, metric_name=name, dimensions_map=dimensions_map,
                         statistic=statistic, period=period, label=label)


class PipelineDashboard(Construct):
    """Dashboard ``AgentCreator-<env>-pipeline`` and its four alarms, to ``topic``."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, collector: CollectorWiring,
                 topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._topic = topic
        self.metrics = AppMetrics(collector, settings.name)
        self.alarms: list[cw.Alarm] = []
        self._add_alarms()
        self.dashboard = self._add_dashboard()

    # -- what the graphs and alarms read --------------------------------------------------

    def _invocations(self, period: Duration = _MINUTE) -> dict[str, cw.IMetric]:
        m = self.metrics
        total = m.metric(INVOCATIONS, "Sum", period, label="invocations")
        errors = m.metric(INVOCATIONS, "Sum", period, label="errors", agentcreator__outcome="error")
        rate = cw.MathExpression(expression="100 * FILL(errors, 0) / total", using_metrics={
            "errors": errors, "total": total}, label="error rate (%)", period=period)
        return {"total": total, "errors": errors, "rate": rate}

    def _duration(self, statistic: str, period: Duration = _MINUTE) -> cw.Metric:
        return self.metrics.metric(INVOKE_AGENT_DURATION, statistic, period,
                                   label=f"invocation duration {statistic} (s)")

    def _cost(self, period: Duration) -> cw.Metric:
        return self.metrics.metric(COST, "Sum", period, label="cost (USD)")

    # -- alarms ---------------------------------------------------------------------------

    def _alarm(self, construct_id: str, metric: cw.IMetric, description: str, threshold: float,
               periods: int) -> cw.Alarm:
        alarm = metric.create_alarm(
            self, construct_id,
            alarm_description=f"AgentCreator {self._settings.name} pipeline: {description}",
            threshold=threshold, evaluation_periods=periods, datapoints_to_alarm=periods,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,  # no invocations: nothing is wrong
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self._topic))
        alarm.add_ok_action(cw_actions.SnsAction(self._topic))
        self.alarms.append(alarm)
        return alarm

    def _add_alarms(self) -> None:
        limits = self._settings.pipeline_alarms
        self._alarm("ErrorRate", self._invocations(_FIVE_MINUTES)["rate"],
                    f"over {limits.error_rate_percent:g} % of invocations failed, two 5-minute periods running",
                    limits.error_rate_percent, 2)
        self._alarm("P99Duration", self._duration("p99", _FIVE_MINUTES),
                    f"p99 invocation duration over {limits.p99_duration_s:g} s, two 5-minute periods running",
                    limits.p99_duration_s, 2)
        self._alarm("CostPerHour", self._cost(_HOUR),
                    f"LLM cost over {limits.cost_per_hour_usd:g} USD in an hour", limits.cost_per_hour_usd, 1)
        # Any loss, as for the collector's own: these spans never reached it, so no collector alarm sees them.
        self._alarm("AppDroppedSpans", self.metrics.metric(SPANS_DROPPED, "Sum", label="spans dropped"),
                    "the app dropped spans before they reached the collector (queue full, or export failed)", 0, 1)

    # -- dashboard ------------------------------------------------------------------------

    def _add_dashboard(self) -> cw.Dashboard:
        m, settings = self.metrics, self._settings
        limits = settings.pipeline_alarms
        invocations = self._invocations()
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"AgentCreator-{settings.name}-pipeline",
                                 default_interval=Duration.hours(6))
        dashboard.add_widgets(cw.TextWidget(
            markdown=(f"# AgentCreator {settings.name}: the pipeline\nWhat the agent does, from the app's "
                      f"metrics (namespace `{m.namespace}`, docs/metrics.md). The collector's health is on "
                      f"`AgentCreator-{settings.name}`. Alarms go to the same SNS topic."),
            width=24, height=2))
        dashboard.add_widgets(
            cw.GraphWidget(title="Invocations per minute and error rate", width=12,
                           left=[invocations["total"], invocations["errors"]], right=[invocations["rate"]],
                           right_annotations=[cw.HorizontalAnnotation(
                               value=limits.error_rate_percent, label="alarm", color=cw.Color.ORANGE)]),
            cw.GraphWidget(title="Invocation duration p50 / p99 (s)", width=12,
                           left=[self._duration("p50"), self._duration("p99")],
                           left_annotations=[cw.HorizontalAnnotation(
                               value=limits.p99_duration_s, label="p99 alarm", color=cw.Color.ORANGE)]),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="LLM calls and tokens per minute", width=12,
                left=[m.metric(OPERATION_DURATION, "SampleCount", label="LLM calls")],
                right=[m.metric(TOKEN_USAGE, "Sum", label=f"{kind} tokens", gen_ai__token__type=kind)
                       for kind in ("input", "output")]),
            cw.GraphWidget(title="Cost per hour (USD)", width=12, left=[self._cost(_HOUR)],
                           left_annotations=[cw.HorizontalAnnotation(
                               value=limits.cost_per_hour_usd, label="alarm", color=cw.Color.ORANGE)]),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Review iterations to approval (average) and loops that ran out", width=12,
                left=[m.metric(REVIEW_ITERATIONS, "Average", _FIVE_MINUTES, label=f"{stage}: iterations",
                               agentcreator__stage=stage, agentcreator__outcome="approved")
                      for stage in ("plan", "code")],
                right=[m.metric(REVIEW_ITERATIONS, "SampleCount", _FIVE_MINUTES, label=f"{stage}: exhausted",
                                agentcreator__stage=stage, agentcreator__outcome="exhausted")
                       for stage in ("plan", "code")]),
            cw.GraphWidget(
                title="Sandbox runs that failed (non-zero exit, timeout, memory, refused)", width=12,
                left=[cw.MathExpression(
                    expression="FILL(runs, 0) - FILL(ok, 0)",
                    using_metrics={"runs": m.metric(SANDBOX_RUNS, "Sum", _FIVE_MINUTES),
                                   "ok": m.metric(SANDBOX_RUNS, "Sum", _FIVE_MINUTES,
                                                  agentcreator__outcome="ok")},
                    label="failed sandbox runs", period=_FIVE_MINUTES)],
                right=[m.metric(SANDBOX_RUNS, "Sum", _FIVE_MINUTES, label="sandbox runs")]),
        )
        dashboard.add_widgets(cw.GraphWidget(
            title="Spans the app dropped before they reached the collector, by reason", width=24,
            left=[m.metric(SPANS_DROPPED, "Sum", label=reason.replace("_", " "), error__type=reason)
                  for reason in DROP_REASONS]))
        dashboard.add_widgets(cw.AlarmStatusWidget(title="Pipeline alarms", alarms=self.alarms, width=24, height=3))
        return dashboard
