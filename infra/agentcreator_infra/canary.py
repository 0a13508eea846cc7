"""The delivery canary's checker, its metrics, alarms and dashboard row, for one environment.

Each task logs a ``canary emitted ...`` line whenever it sends a canary trace; a CloudWatch Logs
subscription hands those lines to the checker Lambda within seconds, which asks every enabled
backend for that trace until it arrives or the timeout passes, and publishes per backend
``Delivered`` (1/0) and ``DeliveryLatency`` (seconds). A backend with no delivered canary in the
window alarms, missing data included (no canary sent, or the checker not running, is as bad as
none arriving); so does a latency over the environment's threshold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as destinations
from constructs import Construct

from agentcreator.canary import readback
from agentcreator_infra.functions import dead_letter_queue, hardened, key_use_through
from agentcreator_infra.retention import retention

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_secretsmanager as secretsmanager
    from aws_cdk import aws_sns as sns

    from agentcreator_infra.settings import CanarySettings, Settings

# The checker is the self-contained readback module, shipped alone (the rest of the package stays out).
CHECKER_CODE = Path(__file__).resolve().parents[2] / "service" / "agentcreator" / "canary"
CHECKER_MODULE = "readback"
INTERVAL_ENV = "AGENTCREATOR_CANARY_INTERVAL_S"
POLL_S = 5
# X-Ray reads: neither action supports resource-level permissions.
XRAY_READ_ACTIONS = (
    "xray:BatchGetTraces",
    "xray:GetTraceSegmentDestination",
    "xray:StartTraceRetrieval",
    "xray:ListRetrievedTraces",
)
BACKEND_LABELS = {readback.XRAY: "X-Ray", readback.LANGFUSE: "Langfuse"}


def checker_concurrency(settings: Settings, canary: CanarySettings) -> int:
    """Enough for every task's canaries in flight at once (each check runs up to the timeout)."""
    return settings.max_count * math.ceil((canary.timeout_s + 30) / canary.interval_s) + 1


class CanaryChecker(Construct):
    """Subscription filter -> checker Lambda -> per-backend metrics -> alarms on the stack's topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        canary: CanarySettings,
        app_log_group: logs.ILogGroup,
        langfuse_secret: secretsmanager.ISecret | None,
        topic: sns.ITopic,
        dashboard: cw.Dashboard,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self._settings = settings
        self._canary = canary
        self.backends = [readback.XRAY] + ([readback.LANGFUSE] if langfuse_secret is not None else [])
        self.function = self._function(settings, canary, langfuse_secret)
        self.subscription = logs.SubscriptionFilter(
            self,
            "CanaryLines",
            log_group=app_log_group,
            destination=destinations.LambdaDestination(self.function),
            filter_pattern=logs.FilterPattern.literal(f'"{readback.LOG_MARKER}"'),
            filter_name=f"agentcreator-{settings.name}-canary",
        )
        self.emitted_metric_name = f"Emitted-{settings.name}"
        logs.MetricFilter(
            self,
            "Emitted",
            log_group=app_log_group,
            filter_pattern=logs.FilterPattern.literal(f'"{readback.LOG_MARKER}"'),
            metric_namespace=readback.METRIC_NAMESPACE,
            metric_name=self.emitted_metric_name,
            metric_value="1",
        )
        self.alarms: list[cw.Alarm] = []
        for backend in self.backends:
            self._alarms(backend, topic)
        self._dashboard(dashboard)

    def _function(
        self, settings: Settings, canary: CanarySettings, secret: secretsmanager.ISecret | None
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, "Logs", retention=retention(settings.log_retention_days), encryption_key=self._key
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Reads AgentCreator {settings.name} canaries back from its trace backends",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[log_group.log_group_arn])
        )
        self.xray_statement = iam.PolicyStatement(actions=list(XRAY_READ_ACTIONS), resources=["*"])
        self.role.add_to_policy(self.xray_statement)
        # PutMetricData has no resources; the condition pins it to the canary's namespace.
        self.metrics_statement = iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": readback.METRIC_NAMESPACE}},
        )
        self.role.add_to_policy(self.metrics_statement)
        environment = {
            "ENVIRONMENT": settings.name,
            "XRAY_READ": "auto",
            "TIMEOUT_S": str(canary.timeout_s),
            "POLL_S": str(POLL_S),
            "METRIC_NAMESPACE": readback.METRIC_NAMESPACE,
        }
        if secret is not None and settings.langfuse_host:
            self.role.add_to_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
            )
            if self._key is not None:  # the secret is encrypted with it: decrypt, through Secrets Manager only
                self.role.add_to_policy(key_use_through("secretsmanager", self, self._key, "kms:Decrypt"))
            environment |= {"LANGFUSE_HOST": settings.langfuse_host, "LANGFUSE_SECRET_ARN": secret.secret_arn}
        return lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler=f"{CHECKER_MODULE}.handler",
            code=lambda_.Code.from_asset(str(CHECKER_CODE), exclude=["*", f"!{CHECKER_MODULE}.py"]),
            role=self.role,
            log_group=log_group,
            # it waits for the canary up to the timeout, and stops 15 s before its own
            timeout=Duration.seconds(canary.timeout_s + 30),
            memory_size=128,
            description=f"Check that AgentCreator {settings.name} canary traces reach each backend",
            environment=environment,
            **hardened(
                role=self.role, key=self._key, reserved_concurrency=checker_concurrency(settings, canary),
                dead_letters=dead_letter_queue(self, "DeadLetters", self._key),
            ),
        )

    def metric(self, name: str, backend: str, statistic: str) -> cw.Metric:
        return cw.Metric(
            namespace=readback.METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={"Environment": self._settings.name, "Backend": backend},
            statistic=statistic,
            period=Duration.minutes(self._canary.window_minutes),
        )

    def _alarms(self, backend: str, topic: sns.ITopic) -> None:
        label, name = BACKEND_LABELS[backend], self._settings.name
        missing = self.metric(readback.DELIVERED_METRIC, backend, "Sum").create_alarm(
            self,
            f"{label.replace('-', '')}NotDelivered",
            alarm_description=(
                f"AgentCreator {name}: no canary reached {label} in {self._canary.window_minutes} minutes "
                "(or none was sent or checked); see docs/canary.md"
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        )
        slow = self.metric(readback.LATENCY_METRIC, backend, "Maximum").create_alarm(
            self,
            f"{label.replace('-', '')}Slow",
            alarm_description=(
                f"AgentCreator {name}: a canary took over {self._canary.latency_threshold_s} s to reach {label}"
            ),
            threshold=self._canary.latency_threshold_s,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,  # absence is the other alarm's
        )
        for alarm in (missing, slow):
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarm.add_ok_action(cw_actions.SnsAction(topic))
            self.alarms.append(alarm)

    def _dashboard(self, dashboard: cw.Dashboard) -> None:
        period = Duration.minutes(self._canary.window_minutes)
        delivered = [self.metric(readback.DELIVERED_METRIC, b, "Sum").with_(label=f"{BACKEND_LABELS[b]} delivered")
                     for b in self.backends]
        emitted = cw.Metric(namespace=readback.METRIC_NAMESPACE, metric_name=self.emitted_metric_name,
                            statistic="Sum", period=period, label="canaries sent")
        dashboard.add_widgets(
            cw.GraphWidget(
                title=f"Canary: sent vs delivered per backend (per {self._canary.window_minutes} min)", width=8,
                left=[emitted, *delivered],
            ),
            cw.GraphWidget(
                title="Canary delivery latency (s, max)", width=8,
                left=[self.metric(readback.LATENCY_METRIC, b, "Maximum").with_(label=BACKEND_LABELS[b])
                      for b in self.backends],
                left_annotations=[cw.HorizontalAnnotation(value=self._canary.latency_threshold_s, label="alarm",
                                                          color=cw.Color.ORANGE)],
            ),
            cw.AlarmStatusWidget(title="Canary alarms", alarms=self.alarms, width=8, height=6),
        )
