"""The Fargate service: the app container plus the ADOT collector sidecar, behind an internal ALB."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from agentcreator_infra.access_logs import AlbAccessLogs
from agentcreator_infra.collector import ADOT_IMAGE, APP_OTLP_ENDPOINT, SECRET_ENV
from agentcreator_infra.retention import retention

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_secretsmanager as secretsmanager

    from agentcreator_infra.collector import CollectorWiring
    from agentcreator_infra.settings import Settings

APP_CONTAINER = "app"
COLLECTOR_CONTAINER = "collector"
APP_PORT = 8080
APP_USER = "10001:10001"  # service/Dockerfile's USER
APP_HOME = "/home/agentcreator"  # read-only, like the rest of the root filesystem
APP_SCRATCH_VOLUME = "app-tmp"
# botocore reads these paths and nothing else; they lie on the read-only root where nothing can
# create them, so no code in the task can plant a config (a credential_process) for it to run.
AWS_CONFIG_PATHS = {
    "AWS_CONFIG_FILE": "/etc/agentcreator/aws/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/etc/agentcreator/aws/credentials",
}
XRAY_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
# Converse/ConverseStream are authorised by these two actions (Bedrock has no separate Converse action).
BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
_GEO_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "ca.", "jp.", "au.", "global.")


def cross_region_base_model(model_id: str) -> str | None:
    """For a cross-region inference profile id (us.amazon.nova-pro-v1:0), the model it routes to."""
    return model_id.split(".", 1)[1] if model_id.startswith(_GEO_PREFIXES) else None


def bedrock_resources(stack: Stack, model_id: str) -> list[str]:
    """The configured model only: its foundation-model ARN, or an inference profile and its model."""
    partition, region, account = stack.partition, stack.region, stack.account
    base = cross_region_base_model(model_id)
    if base:
        return [
            f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}",
            # a cross-region profile routes to the same model in other regions of its geography
            f"arn:{partition}:bedrock:*::foundation-model/{base}",
        ]
    return [f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"]


class AgentCreatorService(Construct):
    """Cluster, task definition (app + collector), service, internal ALB, scaling and the task role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        vpc: ec2.IVpc,
        collector: CollectorWiring,
        langfuse_secret: secretsmanager.ISecret,
        build_context: Path,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bedrock_model_id = settings.bedrock_model_id
        log_retention = retention(settings.log_retention_days)
        self.key = key

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENHANCED
        )
        self.app_log_group = logs.LogGroup(self, "AppLogs", retention=log_retention, encryption_key=key)
        self.collector_log_group = logs.LogGroup(
            self, "CollectorLogs", retention=log_retention, encryption_key=key
        )
        # awsemf writes the collector's own metrics here; the task role may write to this group only.
        self.emf_log_group = logs.LogGroup(
            self,
            "CollectorMetrics",
            log_group_name=collector.metrics_log_group_name,
            retention=log_retention,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # and the app's metrics here (docs/metrics.md), read by the pipeline dashboard.
        self.app_metrics_log_group = logs.LogGroup(
            self,
            "AppMetrics",
            log_group_name=collector.app_metrics_log_group_name,
            retention=log_retention,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )

        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"AgentCreator {settings.name} task: X-Ray, collector metrics, one Bedrock model",
        )
        self.xray_statement = iam.PolicyStatement(actions=list(XRAY_ACTIONS), resources=["*"])
        self.task_role.add_to_policy(self.xray_statement)
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:PutLogEvents", "logs:CreateLogStream"],
                resources=[self.emf_log_group.log_group_arn, self.app_metrics_log_group.log_group_arn],
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(BEDROCK_ACTIONS),
                resources=bedrock_resources(stack, settings.bedrock_model_id),
            )
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=settings.cpu,
            memory_limit_mib=settings.memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        secrets = {}
        if SECRET_ENV in collector.secret_names:
            # ECS grants the execution role (only) read access to the secret.
            secrets[SECRET_ENV] = ecs.Secret.from_secrets_manager(langfuse_secret)
        self.collector_container = self.task_definition.add_container(
            "Collector",
            container_name=COLLECTOR_CONTAINER,
            image=ecs.ContainerImage.from_registry(ADOT_IMAGE),
            essential=True,
            memory_limit_mib=settings.collector_memory_mib,
            environment={**collector.environment, **collector.runtime_environment,
                         "AOT_CONFIG_CONTENT": collector.config},
            secrets=secrets,
            # The ADOT image has no shell: exec form, or ECS renders CMD-SHELL and the check never passes.
            health_check=ecs.HealthCheck(
                command=["CMD", "/healthcheck"],
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(10),
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="collector", log_group=self.collector_log_group),
            stop_timeout=Duration.seconds(settings.stop_timeout_s),
            # Logs go to stdout and no component keeps state on disk (no file_storage, no file
            # exporter), so the collector writes nowhere and needs no capability.
            readonly_root_filesystem=True,
            linux_parameters=self._linux_parameters("CollectorLinux"),
        )
        self.app_container = self.task_definition.add_container(
            "App",
            container_name=APP_CONTAINER,
            image=ecs.ContainerImage.from_asset(
                str(build_context),
                file="service/Dockerfile",
                platform=ecr_assets.Platform.LINUX_AMD64,
            ),
            essential=True,
            memory_limit_mib=settings.app_memory_mib,
            port_mappings=[ecs.PortMapping(container_port=APP_PORT, protocol=ecs.Protocol.TCP)],
            environment={
                **AWS_CONFIG_PATHS,
                "HOME": APP_HOME,
                "ENVIRONMENT": settings.name,
                "OTEL_EXPORTER_OTLP_ENDPOINT": APP_OTLP_ENDPOINT,
                "AGENTCREATOR_LM": f"bedrock/{settings.bedrock_model_id}",
                "AGENTCREATOR_SHUTDOWN_GRACE_S": str(settings.shutdown_grace_s),
                "AGENTCREATOR_WORKERS": str(settings.app_workers),
                **collector.app_environment,
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=self.app_log_group),
            stop_timeout=Duration.seconds(settings.stop_timeout_s),
            user=APP_USER,
            # Code the model writes runs in here: nothing on the root filesystem may change, and
            # the one writable place is a task volume at /tmp (Fargate has no tmpfs mounts).
            readonly_root_filesystem=True,
            # No init process (docs/sandbox.md): docker-init as PID 1 would run as the app's uid,
            # be dumpable and hold the task's environment, credentials URI included. The code
            # interpreter's zygote is a subreaper and reaps its own orphans.
            linux_parameters=self._linux_parameters("AppLinux"),
        )
        self.task_definition.add_volume(name=APP_SCRATCH_VOLUME)  # no host: the task's ephemeral storage
        self.app_container.add_mount_points(
            ecs.MountPoint(container_path="/tmp", source_volume=APP_SCRATCH_VOLUME, read_only=False)
        )
        # Spans sent before the collector listens would be lost; ECS also stops the app first.
        self.app_container.add_container_dependencies(
            ecs.ContainerDependency(
                container=self.collector_container, condition=ecs.ContainerDependencyCondition.HEALTHY
            )
        )

        self.service_security_group = ec2.SecurityGroup(
            self, "ServiceSecurityGroup", vpc=vpc, description="AgentCreator tasks: ALB only"
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=settings.desired_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.service_security_group],
            assign_public_ip=False,
            health_check_grace_period=Duration.seconds(60),
        )
        scaling = self.service.auto_scale_task_count(
            min_capacity=settings.min_count, max_capacity=settings.max_count
        )
        scaling.scale_on_cpu_utilization(
            "CpuScaling",
            target_utilization_percent=settings.cpu_target_percent,
            scale_in_cooldown=Duration.seconds(120),
            scale_out_cooldown=Duration.seconds(60),
        )

        self._add_load_balancer(settings, vpc)

    def _linux_parameters(self, construct_id: str) -> ecs.LinuxParameters:
        """No Linux capabilities at all: neither container binds a low port or changes ownership.
        Fargate refuses `privileged` and Docker's no-new-privileges option; with an empty
        bounding set a setuid binary gains no capability either. No init process in either."""
        parameters = ecs.LinuxParameters(self, construct_id)
        parameters.drop_capabilities(ecs.Capability.ALL)
        return parameters

    def _add_load_balancer(self, settings: Settings, vpc: ec2.IVpc) -> None:
        security = settings.security
        self.tls = security.tls
        alb_security_group = ec2.SecurityGroup(
            self, "AlbSecurityGroup", vpc=vpc, description="AgentCreator internal ALB: VPC callers only",
            allow_all_outbound=False,
        )
        # A literal range (not the VPC's CidrBlock attribute) so the rule can be reviewed as written.
        callers = vpc.vpc_cidr_block if settings.vpc_id else settings.vpc_cidr
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_group=alb_security_group,
            drop_invalid_header_fields=True,
        )
        self.access_logs = (
            AlbAccessLogs(self, "AccessLogs", settings=settings, load_balancer=self.load_balancer)
            if security.alb_access_logs else None
        )
        self.access_log_bucket: s3.Bucket | None = self.access_logs.bucket if self.access_logs else None
        if security.tls:
            # TLS ends at the ALB; plain HTTP port 80 is either absent or only answers with a redirect.
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(security.certificate_arn)],
                open=False,
            )
            # Set as the policy's name: any ELBSecurityPolicy-TLS13-1-2/1-3 policy, checked in settings.
            self.listener.node.default_child.add_property_override("SslPolicy", security.ssl_policy)
            alb_security_group.add_ingress_rule(ec2.Peer.ipv4(callers), ec2.Port.tcp(443), "callers in the VPC")
            if security.http == "redirect":
                self.load_balancer.add_listener(
                    "HttpRedirect",
                    port=80,
                    open=False,
                    default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443", permanent=True),
                )
                alb_security_group.add_ingress_rule(
                    ec2.Peer.ipv4(callers), ec2.Port.tcp(80), "callers in the VPC (redirected to HTTPS)"
                )
        else:
            # Documented choice without a certificate: an internal ALB, plain HTTP inside the VPC only.
            self.listener = self.load_balancer.add_listener("Http", port=80, open=False)
            alb_security_group.add_ingress_rule(ec2.Peer.ipv4(callers), ec2.Port.tcp(80), "callers in the VPC")
        self.target_group = self.listener.add_targets(
            "App",
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            # Two containers: name the one that serves HTTP, or CDK picks the first (the collector).
            targets=[
                self.service.load_balancer_target(container_name=APP_CONTAINER, container_port=APP_PORT)
            ],
            health_check=elbv2.HealthCheck(
                path="/ping", healthy_http_codes="200", interval=Duration.seconds(15), timeout=Duration.seconds(5)
            ),
            deregistration_delay=Duration.seconds(settings.stop_timeout_s),
        )

    @property
    def url(self) -> str:
        """The ALB's own name; with a certificate, callers use the name the certificate covers."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.load_balancer.load_balancer_dns_name}"
