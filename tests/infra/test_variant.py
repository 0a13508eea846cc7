"""An environment the defaults do not cover: explicit account and region, Langfuse off."""

from __future__ import annotations

from tests.infra.conftest import containers, one


def test_alb_access_logs_when_the_region_is_known(variant):
    raw = variant.raw["qa"]
    attributes = one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["LoadBalancerAttributes"]
    assert {"Key": "access_logs.s3.enabled", "Value": "true"} in attributes
    bucket = one(raw, "AWS::S3::Bucket")["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_langfuse_off_means_no_secret_in_the_task(variant):
    collector = containers(variant.raw["qa"])["collector"]
    assert "Secrets" not in collector
    assert "otlp_http/langfuse" not in collector["Environment"][-1]["Value"]
