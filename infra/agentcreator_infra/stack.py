"""One environment's stack: network, secret, service with collector sidecar, redeploy rule, dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs

from agentcreator_infra import collector as collector_config
from agentcreator_infra import nag_acknowledgements
from agentcreator_infra.canary import INTERVAL_ENV, CanaryChecker
from agentcreator_infra.encryption import EnvironmentKey
from agentcreator_infra.observability import Observability
from agentcreator_infra.pipeline_dashboard import PipelineDashboard
from agentcreator_infra.retention import retention
from agentcreator_infra.secrets import LangfuseSecret, RedeployOnSecretChange
from agentcreator_infra.service import AgentCreatorService

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk import Environment
    from constructs import Construct

    from agentcreator_infra.settings import Settings


IMAGE_ASSET_REPOSITORIES = "cdk-*-container-assets-*"  # the bootstrap template's repository name


class AgentCreatorStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        build_context: Path,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=f"AgentCreator meta-agent on ECS Fargate with an ADOT collector ({settings.name})",
        )
        Tags.of(self).add("project", "agentcreator")
        Tags.of(self).add("environment", settings.name)
        self.encryption = EnvironmentKey(self, "Encryption", settings=settings)
        key = self.encryption.key
        self.vpc = self._vpc(settings)
        self.collector = collector_config.wiring(settings, region=self.region)
        self.secrets = LangfuseSecret(self, "Langfuse", settings=settings, key=key)
        self.service = AgentCreatorService(
            self,
            "Service",
            settings=settings,
            vpc=self.vpc,
            collector=self.collector,
            langfuse_secret=self.secrets.secret,
            build_context=build_context,
            key=key,
        )
        self.redeploy = RedeployOnSecretChange(
            self,
            "Redeploy",
            settings=settings,
            secret=self.secrets.secret,
            secret_name=self.secrets.secret_name,
            service=self.service.service,
            key=key,
        )
        self.observability = Observability(
            self,
            "Observability",
            settings=settings,
            service=self.service,
            collector=self.collector,
            key=key,
        )
        self.pipeline = PipelineDashboard(
            self, "Pipeline", settings=settings, collector=self.collector, topic=self.observability.topic,
        )
        self.canary: CanaryChecker | None = None
        if settings.canary is not None:
            self.service.app_container.add_environment(INTERVAL_ENV, str(settings.canary.interval_s))
            self.canary = CanaryChecker(
                self,
                "Canary",
                settings=settings,
                canary=settings.canary,
                app_log_group=self.service.app_log_group,
                langfuse_secret=self.secrets.secret if settings.langfuse_enabled else None,
                topic=self.observability.topic,
                dashboard=self.observability.dashboard,
                key=key,
            )
        if settings.security.ecr_scan_on_push:
            self._scan_image_assets_on_push()
        nag_acknowledgements.acknowledge(self)
        self._outputs(settings)

    def _outputs(self, settings: Settings) -> None:
        """What an operator looks up after a deploy (`npx aws-cdk deploy` prints these)."""
        dashboard = self.observability.dashboard
        outputs = {
            "DashboardUrl": (
                f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#dashboards/dashboard/{settings.stack_name}"
            ),
            "DashboardName": dashboard.dashboard_name,
            "PipelineDashboardName": self.pipeline.dashboard.dashboard_name,
            "AlarmTopicArn": self.observability.topic.topic_arn,
            "InternalUrl": self.service.url,
            "LangfuseSecretName": self.secrets.secret_name,
            "ClusterName": self.service.cluster.cluster_name,
            "ServiceName": self.service.service.service_name,
            "AppLogGroupName": self.service.app_log_group.log_group_name,  # `agentcreator canary check`
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)

    def _scan_image_assets_on_push(self) -> None:
        """The app image lives in the CDK bootstrap repository, which this stack does not own; a
        registry rule makes ECR scan every push to the asset repositories (account-wide)."""
        ecr.CfnRegistryScanningConfiguration(
            self,
            "ImageScanning",
            scan_type="BASIC",
            rules=[
                ecr.CfnRegistryScanningConfiguration.ScanningRuleProperty(
                    scan_frequency="SCAN_ON_PUSH",
                    repository_filters=[
                        ecr.CfnRegistryScanningConfiguration.RepositoryFilterProperty(
                            filter=IMAGE_ASSET_REPOSITORIES, filter_type="WILDCARD"
                        )
                    ],
                )
            ],
        )

    def _vpc(self, settings: Settings) -> ec2.IVpc:
        if settings.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.vpc_cidr),
            max_azs=settings.max_azs,
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self, "FlowLogs", retention=retention(settings.log_retention_days),
                    encryption_key=self.encryption.key,
                )
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc
