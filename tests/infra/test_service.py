"""The Fargate service: cluster, internal ALB, circuit breaker, scaling, stop timeout."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import ENVIRONMENTS, containers, one, resources

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


def test_cluster_has_container_insights(synthesized, env):
    synthesized.templates[env].has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": Match.string_like_regexp("enabled|enhanced")}]},
    )


def test_service_runs_in_private_subnets_with_rollback(synthesized, settings, env):
    service = one(synthesized.raw[env], "AWS::ECS::Service")["Properties"]
    assert service["LaunchType"] == "FARGATE"
    assert service["DesiredCount"] == settings[env].desired_count
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    private = {k for k, v in synthesized.raw[env]["Resources"].items()
               if v["Type"] == "AWS::EC2::Subnet" and "private" in k.lower()}
    assert {s["Ref"] for s in network["Subnets"]} == private
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}


def test_alb_is_internal_and_checks_ping_on_the_app(synthesized, env):
    template = synthesized.templates[env]
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"HealthCheckPath": "/ping", "Port": 8080, "TargetType": "ip", "Matcher": {"HttpCode": "200"}},
    )
    service = one(synthesized.raw[env], "AWS::ECS::Service")["Properties"]
    assert [(lb["ContainerName"], lb["ContainerPort"]) for lb in service["LoadBalancers"]] == [("app", 8080)]


def test_alb_admits_only_the_vpc(synthesized, settings, env):
    ingress = [rule for sg in resources(synthesized.raw[env], "AWS::EC2::SecurityGroup").values()
               if "ALB" in sg["Properties"]["GroupDescription"]
               for rule in sg["Properties"].get("SecurityGroupIngress", [])]
    assert ingress and all(rule["CidrIp"] == settings[env].vpc_cidr for rule in ingress)


def test_cpu_auto_scaling_within_configured_bounds(synthesized, settings, env):
    template = synthesized.templates[env]
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": settings[env].min_count, "MaxCapacity": settings[env].max_count,
         "ScalableDimension": "ecs:service:DesiredCount"},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "TargetValue": settings[env].cpu_target_percent,
        })},
    )


def test_stop_timeout_covers_the_app_shutdown_grace(synthesized, env):
    app = containers(synthesized.raw[env])["app"]
    assert 25 <= app["StopTimeout"] <= 120
    assert int(next(e["Value"] for e in app["Environment"] if e["Name"] == "AGENTCREATOR_SHUTDOWN_GRACE_S")) \
        < app["StopTimeout"]


def test_the_app_runs_a_server_process_per_vcpu_with_memory_for_each(synthesized, settings, env):
    app = containers(synthesized.raw[env])["app"]
    workers = int(next(e["Value"] for e in app["Environment"] if e["Name"] == "AGENTCREATOR_WORKERS"))
    assert workers == max(1, settings[env].cpu // 1024)
    assert settings[env].app_memory_mib / workers >= 512  # a worker is ~120 MB resident under load


def test_task_size_follows_context(synthesized, settings, env):
    task = one(synthesized.raw[env], "AWS::ECS::TaskDefinition")["Properties"]
    assert (task["Cpu"], task["Memory"]) == (str(settings[env].cpu), str(settings[env].memory_mib))
    assert task["RequiresCompatibilities"] == ["FARGATE"]

