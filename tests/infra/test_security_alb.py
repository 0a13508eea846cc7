"""TLS on the load balancer when a certificate is configured (plain HTTP inside the VPC when not),
and its access logs in an encrypted, access-logged, lifecycle-managed bucket."""

from __future__ import annotations

import json

import pytest

from agentcreator_infra.access_logs import LOG_DELIVERY_SERVICE, PREFIX, elb_log_accounts
from tests.infra.conftest import ENVIRONMENTS, VARIANTS, one, ref, resources

ALL = ENVIRONMENTS + VARIANTS


def _env(synthesized, variant, env):
    found = synthesized if env in synthesized.raw else variant
    return found.raw[env], found.settings[env]


def _listeners(raw: dict) -> dict[int, dict]:
    found = resources(raw, "AWS::ElasticLoadBalancingV2::Listener").values()
    return {v["Properties"]["Port"]: v["Properties"] for v in found}


def _alb_ingress(raw: dict) -> list[dict]:
    groups = resources(raw, "AWS::EC2::SecurityGroup").values()
    return [rule for sg in groups if "internal ALB" in sg["Properties"]["GroupDescription"]
            for rule in sg["Properties"]["SecurityGroupIngress"]]


def _ingress_ports(raw: dict) -> set[int]:
    return {rule["FromPort"] for rule in _alb_ingress(raw)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_without_a_certificate_the_internal_alb_speaks_http_inside_the_vpc_only(synthesized, env):
    raw, settings = synthesized.raw[env], synthesized.settings[env]
    assert settings.security.certificate_arn is None
    assert one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["Scheme"] == "internal"
    listeners = _listeners(raw)
    assert list(listeners) == [80] and listeners[80]["Protocol"] == "HTTP"
    assert _ingress_ports(raw) == {80}
    assert raw["Outputs"]["InternalUrl"]["Value"]["Fn::Join"][1][0] == "http://"


@pytest.mark.parametrize(("env", "ports"), [("qa", {443, 80}), ("lab", {443})])
def test_with_a_certificate_https_on_a_modern_policy_and_port_80_redirects_or_is_closed(variant, env, ports):
    raw, settings = variant.raw[env], variant.settings[env]
    listeners = _listeners(raw)
    assert set(listeners) == ports == _ingress_ports(raw)
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": settings.security.certificate_arn}]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["DefaultActions"][0]["Type"] == "forward"
    if 80 in listeners:
        assert settings.security.http == "redirect"
        assert listeners[80]["DefaultActions"] == [
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
        ]
    assert raw["Outputs"]["InternalUrl"]["Value"]["Fn::Join"][1][0] == "https://"


@pytest.mark.parametrize("env", ALL)
def test_the_alb_admits_only_the_vpc_and_drops_invalid_headers(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    ingress = _alb_ingress(raw)
    assert ingress and all(rule["CidrIp"] == settings.vpc_cidr for rule in ingress)
    attributes = one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["LoadBalancerAttributes"]
    assert {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"} in attributes


def _buckets(raw: dict) -> tuple[str, dict, dict]:
    """(logs bucket id, logs bucket, its server-access-logs bucket)"""
    attributes = one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["LoadBalancerAttributes"]
    values = {a["Key"]: a["Value"] for a in attributes}
    assert values["access_logs.s3.enabled"] == "true" and values["access_logs.s3.prefix"] == PREFIX
    buckets = resources(raw, "AWS::S3::Bucket")
    logs_id = ref(values["access_logs.s3.bucket"])
    target = ref(buckets[logs_id]["Properties"]["LoggingConfiguration"]["DestinationBucketName"])
    return logs_id, buckets[logs_id]["Properties"], buckets[target]["Properties"]


@pytest.mark.parametrize("env", [*ENVIRONMENTS, "qa"])
def test_access_logs_go_to_an_sse_s3_access_logged_lifecycle_managed_bucket(synthesized, variant, env):
    raw, settings = _env(synthesized, variant, env)
    _, logs, server_logs = _buckets(raw)
    for bucket in (logs, server_logs):
        rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # ELB delivers to SSE-S3 only
        assert all(bucket["PublicAccessBlockConfiguration"][k] for k in
                   ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
        assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
        (lifecycle,) = bucket["LifecycleConfiguration"]["Rules"]
        assert lifecycle["ExpirationInDays"] == settings.security.access_log_retention_days
        assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert logs["LoggingConfiguration"]["LogFilePrefix"]


@pytest.mark.parametrize("env", [*ENVIRONMENTS, "qa"])
def test_both_log_buckets_refuse_plain_http(synthesized, variant, env):
    raw, _ = _env(synthesized, variant, env)
    for policy in resources(raw, "AWS::S3::BucketPolicy").values():
        deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(resources(raw, "AWS::S3::BucketPolicy")) == 2


def _delivery(raw: dict) -> tuple[list, str]:
    logs_id, _, _ = _buckets(raw)
    (policy_id, policy), = [(k, v) for k, v in resources(raw, "AWS::S3::BucketPolicy").items()
                             if ref(v["Properties"]["Bucket"]) == logs_id]
    return policy["Properties"]["PolicyDocument"]["Statement"][1:], policy_id


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_environment_agnostic_stack_picks_the_regions_delivery_principal_at_deploy(synthesized, env):
    raw = synthesized.raw[env]
    statements, policy_id = _delivery(raw)
    by_account, by_service = (s["Fn::If"] for s in statements)
    condition = by_account[0]
    assert by_service[0] == condition
    assert by_account[2] == {"Ref": "AWS::NoValue"} and by_service[1] == {"Ref": "AWS::NoValue"}
    assert by_service[2]["Principal"] == {"Service": LOG_DELIVERY_SERVICE}
    assert "Fn::FindInMap" in json.dumps(by_account[1]["Principal"])
    for statement in (by_account[1], by_service[2]):
        assert statement["Action"] == "s3:PutObject"
        assert statement["Resource"]["Fn::Join"][1][1:] == [f"/{PREFIX}/AWSLogs/", {"Ref": "AWS::AccountId"}, "/*"]
    # the condition holds exactly in the regions that have an ELB log account
    regions = set()

    def walk(node):
        if isinstance(node, dict):
            if "Fn::Equals" in node:
                regions.add(node["Fn::Equals"][1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw["Conditions"][condition])
    assert regions == set(elb_log_accounts())
    # ELB tests its access to the bucket when logging is switched on: the policy must exist first.
    assert policy_id in one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["DependsOn"]


def test_a_stack_in_an_older_region_grants_that_regions_elb_account(variant):
    (statement,), _ = _delivery(variant.raw["qa"])
    assert statement["Principal"] == {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                                f":iam::{elb_log_accounts()['eu-west-1']}:root"]]}}


def test_access_logs_can_be_switched_off_and_nag_is_told_why(variant):
    raw = variant.raw["lab"]
    attributes = one(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["LoadBalancerAttributes"]
    assert not [a for a in attributes if a["Key"].startswith("access_logs")]
    assert not resources(raw, "AWS::S3::Bucket")
