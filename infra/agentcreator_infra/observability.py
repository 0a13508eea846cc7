"""Dashboard and alarms for one environment: is the collector healthy, and is the service?

HEALTHY on the ECS health check only means the collector process is alive, so the alarms
watch the collector's own metrics (shipped by awsemf) for every way it loses spans: refused by
its memory limiter or receiver, dropped from a full queue, or failed for good by an exporter
(tail sampling never evicts an undecided trace: it blocks instead); and for the metrics
themselves going missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_xray as xray
from constructs import Construct

from agentcreator_infra import collector_metrics as cm
from agentcreator_infra.collector import SERVICE_NAME
from agentcreator_infra.service import APP_CONTAINER, COLLECTOR_CONTAINER

if TYPE_CHECKING:
    from agentcreator_infra.collector import CollectorWiring
    from agentcreator_infra.service import AgentCreatorService
    from agentcreator_infra.settings import Settings

_MINUTE = Duration.minutes(1)
_MIB = 1024 * 1024


class Observability(Construct):
    """SNS topic (e-mail from context), alarms, the dashboard, and optionally Transaction Search."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        service: AgentCreatorService,
        collector: CollectorWiring,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._service = service
        self._namespace = collector.metrics_namespace
        self._dimensions = cm.dimensions(settings.name, collector.environment.get("SERVICE_NAME", SERVICE_NAME))
        collector_memory_limit_mib = settings.collector_memory_mib
        if key is None:  # no environment key: the topic still needs a customer key alarms may use
            key = kms.Key(
                self,
                "TopicKey",
                enable_key_rotation=True,
                description=f"AgentCreator {settings.name} alarm topic",
            )
            # CloudWatch alarms publish to an encrypted topic only if the key lets them.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    resources=["*"],
                )
            )
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"AgentCreator {settings.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.alarms: list[cw.Alarm] = []
        self._add_alarms(collector_memory_limit_mib)
        self.dashboard = self._add_dashboard(collector_memory_limit_mib)
        if settings.transaction_search:
            self._enable_transaction_search()

    # -- metrics --------------------------------------------------------------------------

    def _collector(self, name: str, statistic: str = "Sum", **extra: str) -> cw.Metric:
        return cw.Metric(
            namespace=self._namespace,
            metric_name=name,
            dimensions_map={**self._dimensions, **extra},
            statistic=statistic,
            period=_MINUTE,
        )

    def _ecs(self, name: str, statistic: str = "Average", container: str | None = None) -> cw.Metric:
        dims = {
            "ClusterName": self._service.cluster.cluster_name,
            "ServiceName": self._service.service.service_name,
        }
        if container:
            dims["ContainerName"] = container
        return cw.Metric(
            namespace="ECS/ContainerInsights", metric_name=name, dimensions_map=dims,
            statistic=statistic, period=_MINUTE,
        )

    def _spans(self) -> dict[str, cw.IMetric]:
        return {
            "accepted": self._collector(cm.ACCEPTED_SPANS).with_(label="accepted"),
            "refused": cw.MathExpression(
                expression="FILL(r, 0) + FILL(f, 0) + FILL(m, 0)",
                using_metrics={"r": self._collector(cm.RECEIVER_REFUSED_SPANS),
                               "f": self._collector(cm.RECEIVER_FAILED_SPANS),
                               "m": self._collector(cm.MEMORY_LIMITER_REFUSED_SPANS)},
                label="refused", period=_MINUTE,
            ),
            "sent": self._collector(cm.SENT_SPANS).with_(label="sent"),
            "failed": self._collector(cm.SEND_FAILED_SPANS).with_(label="failed"),
            "dropped": cw.MathExpression(
                expression="FILL(q, 0)",
                using_metrics={"q": self._collector(cm.ENQUEUE_FAILED_SPANS)},
                label="dropped (queue full)", period=_MINUTE,
            ),
        }

    def _queue_percent(self) -> cw.MathExpression:
        return cw.MathExpression(
            expression="100 * size / capacity",
            using_metrics={
                "size": self._collector(cm.QUEUE_SIZE, "Maximum"),
                "capacity": self._collector(cm.QUEUE_CAPACITY, "Maximum"),
            },
            label="exporter queue % of capacity", period=_MINUTE,
        )

    def _memory_percent(self, limit_mib: int) -> cw.MathExpression:
        return cw.MathExpression(
            expression=f"100 * rss / {limit_mib * _MIB}",
            using_metrics={"rss": self._collector(cm.MEMORY_RSS, "Maximum")},
            label=f"collector RSS % of its {limit_mib} MiB limit", period=_MINUTE,
        )

    # -- alarms ---------------------------------------------------------------------------

    def _alarm(self, construct_id: str, metric: cw.IMetric, description: str, *, threshold: float,
               periods: int = 1, missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
               comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD) -> cw.Alarm:
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=f"AgentCreator {self._settings.name}: {description}",
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _add_alarms(self, memory_limit_mib: int) -> None:
        spans = self._spans()
        # Every loss alarms from its first span: these counters reach CloudWatch from their
        # first value (awsemf retain_initial_value_of_delta_metric), and silence means none.
        self._alarm("ExportFailures", spans["failed"],
                    "an exporter gave up on spans (permanent error, or retries exhausted)", threshold=0)
        self._alarm("RefusedSpans", spans["refused"],
                    "the collector refused spans (memory limiter or receiver); the app retries, then drops",
                    threshold=0)
        self._alarm("DroppedSpans", spans["dropped"],
                    "the collector dropped spans (an exporter queue was full)",
                    threshold=0)
        self._alarm("ExportBacklog", self._queue_percent(),
                    "an exporter queue is over 10 % full for 3 minutes: its backend is failing or slow",
                    threshold=10, periods=3)
        self._alarm("CollectorMemoryHigh", self._memory_percent(memory_limit_mib),
                    "collector memory is over 80 % of its container limit", threshold=80, periods=3)
        heartbeat = cw.Metric(
            namespace=self._namespace, metric_name=cm.HEARTBEAT, dimensions_map=self._dimensions,
            statistic="SampleCount", period=Duration.minutes(5),
        )
        self._alarm("CollectorMetricsMissing", heartbeat,
                    "no collector metrics for 5 minutes: the collector or its metrics export is down",
                    threshold=1, comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                    missing=cw.TreatMissingData.BREACHING)
        shortfall = cw.MathExpression(
            expression="FILL(desired, 0) - FILL(running, 0)",
            using_metrics={"desired": self._ecs("DesiredTaskCount"), "running": self._ecs("RunningTaskCount")},
            label="tasks missing", period=_MINUTE,
        )
        self._alarm("RunningBelowDesired", shortfall, "fewer tasks are running than desired",
                    threshold=0, periods=5)
        alb = self._service.load_balancer
        five_xx = cw.MathExpression(
            expression="FILL(target, 0) + FILL(elb, 0)",
            using_metrics={
                "target": alb.metrics.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=_MINUTE, statistic="Sum"),
                "elb": alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=_MINUTE, statistic="Sum"),
            },
            label="ALB 5xx", period=_MINUTE,
        )
        self._alarm("Alb5xx", five_xx, "the load balancer returned 5xx responses", threshold=0, periods=2)

    # -- dashboard ------------------------------------------------------------------------

    def _add_dashboard(self, memory_limit_mib: int) -> cw.Dashboard:
        settings, service = self._settings, self._service
        spans = self._spans()
        alb = service.load_balancer
        dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"AgentCreator-{settings.name}",
            default_interval=Duration.hours(3),
        )
        memory_mib = cw.MathExpression(
            expression=f"rss / {_MIB}", using_metrics={"rss": self._collector(cm.MEMORY_RSS, "Maximum")},
            label="collector RSS (MiB)", period=_MINUTE,
        )
        dashboard.add_widgets(
            cw.TextWidget(
                markdown=(f"# AgentCreator {settings.name}\nCollector health first (spans in/out, queue, "
                          "memory), then the service. Alarms go to the SNS topic in this stack."),
                width=24, height=2,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(title="Spans: accepted / refused / sent / failed / dropped", width=12,
                           left=[spans["accepted"], spans["refused"], spans["sent"], spans["failed"],
                                 spans["dropped"]]),
            cw.GraphWidget(
                title="Exporter queue: size vs capacity", width=12,
                left=[self._collector(cm.QUEUE_SIZE, "Maximum").with_(label="queue size"),
                      self._collector(cm.QUEUE_CAPACITY, "Maximum").with_(label="queue capacity")],
            ),
        )
        limit = memory_limit_mib
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Collector memory vs its limit (MiB)", width=12, left=[memory_mib],
                left_annotations=[
                    cw.HorizontalAnnotation(value=limit, label="container limit"),
                    cw.HorizontalAnnotation(value=limit * 0.8, label="alarm (80 %)", color=cw.Color.ORANGE),
                ],
            ),
            cw.GraphWidget(
                title="CPU / memory per container", width=12,
                left=[self._ecs("ContainerCpuUtilized", container=c).with_(label=f"{c} CPU (units)")
                      for c in (APP_CONTAINER, COLLECTOR_CONTAINER)],
                right=[self._ecs("ContainerMemoryUtilized", container=c).with_(label=f"{c} memory (MiB)")
                       for c in (APP_CONTAINER, COLLECTOR_CONTAINER)],
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Tasks: running vs desired", width=8,
                left=[self._ecs("RunningTaskCount").with_(label="running"),
                      self._ecs("DesiredTaskCount").with_(label="desired")],
            ),
            cw.GraphWidget(
                title="ALB 5xx and latency", width=8,
                left=[alb.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=_MINUTE),
                      alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=_MINUTE)],
                right=[alb.metrics.target_response_time(statistic=s, period=_MINUTE).with_(label=f"latency {s}")
                       for s in ("p50", "p99")],
            ),
            cw.GraphWidget(
                title="Invocations (ALB requests) and Bedrock tokens", width=8,
                left=[service.target_group.metrics.request_count(period=_MINUTE).with_(label="requests")],
                right=[self._bedrock(name).with_(label=f"Bedrock {label}")
                       for name, label in (("Invocations", "invocations"), ("InputTokenCount", "input tokens"),
                                           ("OutputTokenCount", "output tokens"))],
            ),
        )
        dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3))
        return dashboard

    def _bedrock(self, name: str) -> cw.Metric:
        """Bedrock's own per-model metrics (every caller of the model in this account and region)."""
        return cw.Metric(
            namespace="AWS/Bedrock", metric_name=name,
            dimensions_map={"ModelId": self._settings.bedrock_model_id}, statistic="Sum", period=_MINUTE,
        )

    # -- Transaction Search ----------------------------------------------------------------

    def _enable_transaction_search(self) -> None:
        """Index spans in CloudWatch (account-wide: enable it in one environment per account)."""
        stack = Stack.of(self)
        arn = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group"
        policy = logs.CfnResourcePolicy(
            self,
            "TransactionSearchPolicy",
            policy_name=f"AgentCreator-{self._settings.name}-TransactionSearch",
            policy_document=stack.to_json_string({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "TransactionSearchXRayAccess",
                    "Effect": "Allow",
                    "Principal": {"Service": "xray.amazonaws.com"},
                    "Action": "logs:PutLogEvents",
                    "Resource": [f"{arn}:aws/spans:*", f"{arn}:/aws/application-signals/data:*"],
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:xray:{stack.region}:{stack.account}:*"},
                        "StringEquals": {"aws:SourceAccount": stack.account},
                    },
                }],
            }),
        )
        config = xray.CfnTransactionSearchConfig(self, "TransactionSearch", indexing_percentage=1)
        config.node.add_dependency(policy)
        self.transaction_search: CfnResource = config

