"""The ALB's access logs: an encrypted, access-logged, lifecycle-managed bucket, in any region.

ELB delivers access logs only to a bucket encrypted with SSE-S3 (not SSE-KMS), and writes them
as a principal that depends on the region: an ELB account in regions opened before August
2022, the `logdelivery.elasticloadbalancing.amazonaws.com` service elsewhere. An
environment-agnostic stack does not know its region at synth, so its bucket policy picks the
principal at deploy time from a mapping of CDK's own region facts (no lookup, synth offline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Aws, CfnCondition, CfnMapping, Duration, Fn, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

if TYPE_CHECKING:
    from aws_cdk import aws_elasticloadbalancingv2 as elbv2

    from agentcreator_infra.settings import Settings

PREFIX = "alb"
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
_MAX_OR = 10  # Fn::Or takes at most ten conditions


def elb_log_accounts() -> dict[str, str]:
    """Region -> the ELB account that writes its access logs (older regions only)."""
    return {r.name: r.elbv2_account for r in RegionInfo.regions if r.elbv2_account}


def _lifecycle(days: int) -> list[s3.LifecycleRule]:
    return [
        s3.LifecycleRule(
            id="expire-logs",
            expiration=Duration.days(days),
            noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
    ]


def _log_bucket(scope: Construct, construct_id: str, days: int, **extra: Any) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption ELB and S3 logging deliver to
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=_lifecycle(days),
        **extra,
    )


class AlbAccessLogs(Construct):
    """`bucket` receives the ALB's logs; `server_access_logs` records every request to `bucket`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, load_balancer: elbv2.ApplicationLoadBalancer
    ) -> None:
        super().__init__(scope, construct_id)
        days = settings.security.access_log_retention_days
        self.server_access_logs = _log_bucket(self, "ServerAccessLogs", days, enforce_ssl=True)
        # This bucket's policy (TLS only, and ELB's delivery) is written below, as one resource.
        self.bucket = _log_bucket(
            self, "Bucket", days, enforce_ssl=False, server_access_logs_bucket=self.server_access_logs,
            server_access_logs_prefix="alb-access-logs/",
        )
        self.policy = self._policy()
        load_balancer.set_attribute("access_logs.s3.enabled", "true")
        load_balancer.set_attribute("access_logs.s3.bucket", self.bucket.bucket_name)
        load_balancer.set_attribute("access_logs.s3.prefix", PREFIX)
        # ELB writes a test object when logging is switched on: the policy must exist first.
        load_balancer.node.add_dependency(self.policy)

    def _policy(self) -> s3.CfnBucketPolicy:
        stack, bucket = Stack.of(self), self.bucket
        objects = f"{bucket.bucket_arn}/{PREFIX}/AWSLogs/{stack.account}/*"
        statements: list[Any] = [iam.PolicyStatement(
            sid="DenyInsecureTransport", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["s3:*"], resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            conditions={"Bool": {"aws:SecureTransport": "false"}},
        ).to_statement_json()]

        def delivery(principal: iam.IPrincipal) -> Any:
            return iam.PolicyStatement(
                sid="ElbDeliversAccessLogs", principals=[principal], actions=["s3:PutObject"], resources=[objects],
            ).to_statement_json()

        accounts = elb_log_accounts()
        if not Token.is_unresolved(stack.region):
            account = accounts.get(stack.region)
            statements.append(delivery(
                iam.AccountPrincipal(account) if account else iam.ServicePrincipal(LOG_DELIVERY_SERVICE)
            ))
        else:
            # Region unknown at synth: both statements are written, and CloudFormation keeps the one
            # valid in the region it deploys to (Fn::If on a condition over CDK's region facts).
            by_region = {region: {"account": account} for region, account in sorted(accounts.items())}
            mapping = CfnMapping(self, "ElbLogAccounts", mapping=by_region)
            has_account = CfnCondition(self, "RegionHasElbAccount", expression=_region_in(sorted(accounts)))
            account = mapping.find_in_map(Aws.REGION, "account")
            account_arn = Fn.join("", ["arn:", Aws.PARTITION, ":iam::", account, ":root"])
            statements.append(Fn.condition_if(
                has_account.logical_id, delivery(iam.ArnPrincipal(account_arn)), Aws.NO_VALUE
            ))
            statements.append(Fn.condition_if(
                has_account.logical_id, Aws.NO_VALUE, delivery(iam.ServicePrincipal(LOG_DELIVERY_SERVICE))
            ))
        return s3.CfnBucketPolicy(
            self, "Policy", bucket=bucket.bucket_name,
            policy_document={"Version": "2012-10-17", "Statement": statements},
        )


def _region_in(regions: list[str]) -> Any:
    """A condition true in any of `regions` (Fn::Or nests: each level takes at most ten)."""
    conditions = [Fn.condition_equals(Aws.REGION, region) for region in regions]
    while len(conditions) > 1:
        groups = [conditions[i:i + _MAX_OR] for i in range(0, len(conditions), _MAX_OR)]
        conditions = [Fn.condition_or(*group) if len(group) > 1 else group[0] for group in groups]
    return conditions[0]
