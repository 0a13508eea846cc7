"""The environment's customer-managed KMS key: created here, imported by ARN, or none at all.

Prompts and completions can carry personal data, and the app's logs may too, so one key per
environment encrypts the Langfuse secret, every log group the stack creates, the alarm topic
and each function's dead-letter queue and environment. The key policy lets in only the
services that use the key on our behalf, each held to this account (and region) by a condition.
Secrets Manager's statements (account principals, through Secrets Manager only, and the task
execution role that reads the secret) are added by CDK's Secret and its grant. An imported key's
policy is its owner's: docs/security.md lists the statements it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

if TYPE_CHECKING:
    from agentcreator_infra.settings import Settings

LOGS_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
PUBLISHER_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


class EnvironmentKey(Construct):
    """`key` is the environment's KMS key, or None when the environment uses AWS-owned keys."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        security = settings.security
        self.created: kms.Key | None = None
        self.key: kms.IKey | None = None
        if security.creates_key:
            self.created = kms.Key(
                self,
                "Key",
                alias=f"alias/agentcreator/{settings.name}",
                description=f"AgentCreator {settings.name}: Langfuse secret, log groups, alarm topic, queues",
                enable_key_rotation=True,
                pending_window=Duration.days(30),
                # Logs and the secret stay encrypted under it after a stack deletion.
                removal_policy=RemovalPolicy.RETAIN,
            )
            self._let_services_use(self.created)
            self.key = self.created
        elif security.imported_key_arn:
            self.key = kms.Key.from_key_arn(self, "Key", security.imported_key_arn)

    def _let_services_use(self, key: kms.Key) -> None:
        stack = Stack.of(self)
        partition, region, account = stack.partition, stack.region, stack.account
        # CloudWatch Logs encrypts each log group with the key; the encryption context names the group.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=list(LOGS_ACTIONS),
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                    }
                },
            )
        )
        # CloudWatch alarms publish to the encrypted SNS topic as the CloudWatch service.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheAlarmTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=list(PUBLISHER_ACTIONS),
                resources=["*"],
            )
        )
        # EventBridge moves events it could not deliver to the encrypted dead-letter queue.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesOfThisAccountWriteDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=list(PUBLISHER_ACTIONS),
                resources=["*"],
                conditions={"ArnLike": {"aws:SourceArn": f"arn:{partition}:events:{region}:{account}:rule/*"}},
            )
        )
