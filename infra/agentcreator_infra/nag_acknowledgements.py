"""Every cdk-nag (AwsSolutions) acknowledgement in the stacks, each with its reason, in one place.

cdk-nag 3 acknowledges findings through CDK's own `Validations.of(construct).acknowledge`, one
finding id at a time (`AwsSolutions-IAM5[Resource::*]`), on the construct that raises it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations

from agentcreator_infra.service import cross_region_base_model

if TYPE_CHECKING:
    from constructs import IConstruct

    from agentcreator_infra.stack import AgentCreatorStack


def _ack(construct: IConstruct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge(stack: AgentCreatorStack) -> None:
    """Attach the reasoned acknowledgements to the constructs that raise them."""
    service = stack.service
    _ack(
        service.task_role,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray's PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets "
        "support no resource-level permissions; the statement holds only those four actions.",
    )
    _ack(
        service.task_definition,
        "AwsSolutions-ECS2",
        "The environment holds only non-secret settings (environment name, OTLP endpoint, collector "
        "config and limits); the Langfuse header comes from Secrets Manager through ECS `secrets`.",
    )
    base_model = cross_region_base_model(service.bedrock_model_id)
    if base_model:
        _ack(
            service.task_role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base_model}]",
            "A cross-region inference profile serves the request from any region of its geography, so "
            "the one configured model is allowed in every region; the model itself is not wildcarded.",
        )
    execution_role = service.task_definition.execution_role
    if execution_role is not None:
        _ack(
            execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken, added by ECS for the image asset, has no resource-level "
            "permissions; image pulls themselves are scoped to the asset repository.",
        )
    # The collector expands ${env:NAME} itself at start-up; CloudFormation must pass it through as text.
    env_expansion_reason = (
        "AOT_CONFIG_CONTENT holds the ADOT collector config, whose ${env:NAME} references the collector "
        "expands at start-up from the container's environment; they are not CloudFormation parameters."
    )
    _ack(service.task_definition, "CloudFormation-Validate::E1029", env_expansion_reason)
    task_definition = service.task_definition.node.default_child
    task_definition.add_metadata(
        "cfn-lint", {"config": {"ignore_checks": ["E1029"], "ignore_reasons": {"E1029": env_expansion_reason}}}
    )
    _ack(
        stack.secrets.secret,
        "AwsSolutions-SMG4",
        "The value is a header built from Langfuse API keys, which only Langfuse can issue; it is "
        "rotated by `agentcreator secrets set-langfuse`, and every change redeploys the service.",
    )
    if service.access_logs is None:
        _ack(
            service.load_balancer,
            "AwsSolutions-ELB2",
            "ALB access logs are switched off for this environment in cdk.json "
            "(`security.alb_access_logs: false`); requests are still traced end to end and counted in "
            "the ALB metrics on the dashboard. Every shipped environment keeps them on.",
        )
    if stack.canary is not None:
        _ack(
            stack.canary.role,
            "AwsSolutions-IAM5[Resource::*]",
            "The canary checker's X-Ray reads (BatchGetTraces, GetTraceSegmentDestination, StartTraceRetrieval, "
            "ListRetrievedTraces) and cloudwatch:PutMetricData support no resource-level permissions; "
            "PutMetricData is conditioned on the canary's metric namespace.",
        )
