"""The Langfuse header secret, and the rule that redeploys the service when it changes.

ECS resolves `secrets` only when a task starts, so a new secret version reaches running
collectors only through a new deployment: CloudTrail records the Secrets Manager call,
EventBridge matches it for this secret, and a small Lambda forces a deployment of this
environment's service (and nothing else).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from agentcreator.collector import secret_name
from agentcreator_infra.functions import dead_letter_queue, hardened
from agentcreator_infra.retention import retention

if TYPE_CHECKING:
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_kms as kms

    from agentcreator_infra.settings import Settings

ROTATION_CODE = Path(__file__).resolve().parent.parent / "rotation"
# Calls that change the value ECS would read. UpdateSecretVersionStage is how a rotation
# (RotateSecret) finally moves AWSCURRENT, so it is the event that carries the new value.
SECRET_CHANGE_EVENTS = ("PutSecretValue", "UpdateSecret", "RotateSecret", "UpdateSecretVersionStage")
# What the function needs to find its service and secret: identifiers, never a secret value.
FUNCTION_ENVIRONMENT = ("CLUSTER_ARN", "SERVICE_NAME", "SECRET_ARN", "SECRET_NAME")


class LangfuseSecret(Construct):
    """One secret per environment: the OTLP `Authorization` header for Langfuse, collector-only."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, key: kms.IKey | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret_name = secret_name(settings.name)
        # A random placeholder until `agentcreator secrets set-langfuse` stores the real header:
        # tasks can start, and no value ever appears in the template.
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=self.secret_name,
            description=f"Langfuse OTLP Authorization header value for AgentCreator {settings.name}",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=32
            ),
        )


class RedeployOnSecretChange(Construct):
    """EventBridge rule on CloudTrail events for one secret -> Lambda -> ecs:UpdateService (one service)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        secret: secretsmanager.ISecret,
        secret_name: str,
        service: ecs.FargateService,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_group = logs.LogGroup(
            self, "Logs", retention=retention(settings.log_retention_days), encryption_key=key
        )
        # Events the function could not handle (after Lambda's retries) and events EventBridge
        # could not deliver end up here instead of being lost: a redeploy that never happened.
        self.dead_letters = dead_letter_queue(self, "DeadLetters", key)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Redeploys the AgentCreator {settings.name} service after its secret changes",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["ecs:UpdateService"], resources=[service.service_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(ROTATION_CODE), exclude=["__pycache__", "*.pyc"]),
            role=self.role,
            log_group=log_group,
            timeout=Duration.seconds(30),
            memory_size=128,
            # One redeploy at a time is all it ever needs; the reservation also caps it.
            **hardened(
                role=self.role, key=key, reserved_concurrency=settings.security.lambda_reserved_concurrency,
                dead_letters=self.dead_letters,
            ),
            description=f"Force a new deployment of AgentCreator {settings.name} when its Langfuse secret changes",
            environment={
                "CLUSTER_ARN": service.cluster.cluster_arn,
                "SERVICE_NAME": service.service_name,
                "SECRET_ARN": secret.secret_arn,
                "SECRET_NAME": secret_name,
            },
        )
        partial_arn = f"arn:{stack.partition}:secretsmanager:{stack.region}:{stack.account}:secret:{secret_name}"
        self.rule = events.Rule(
            self,
            "SecretChanged",
            description=f"AgentCreator {settings.name}: the Langfuse secret changed; redeploy to pick it up",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["AWS API Call via CloudTrail"],
                detail={
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": list(SECRET_CHANGE_EVENTS),
                    "errorCode": [{"exists": False}],
                    # callers may name the secret, give its full ARN, or its ARN without the suffix
                    "requestParameters": {
                        "secretId": [secret.secret_arn, secret_name, {"prefix": partial_arn}],
                    },
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.function, retry_attempts=4, max_event_age=Duration.hours(1),
                    dead_letter_queue=self.dead_letters,
                )
            ],
        )
