"""One environment's settings, parsed from the `agentcreator:environments` context in cdk.json.

Parsing is strict: a typo or an out-of-range value fails synth with one line naming the
environment and the key, so a bad edit never reaches CloudFormation.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

# Fargate's valid task sizes: CPU units -> memory MiB range (step 1024 above 2 GiB).
_FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}
_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)
ECS_MAX_STOP_TIMEOUT_S = 120
APP_SHUTDOWN_GRACE_S = 25  # the app's AGENTCREATOR_SHUTDOWN_GRACE_S default
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MODEL_ID = re.compile(r"^[a-z0-9.-]+:[0-9a-z:]+$|^[a-z0-9.-]+$")
_KEYS = {
    "account", "region", "vpc", "task", "scaling", "sampling", "log_retention_days",
    "langfuse", "alarm_email", "bedrock_model_id", "transaction_search", "shutdown_grace_s",
    "availability_zones", "xray_mode", "canary", "security", "pipeline_alarms",
}
_PIPELINE_ALARM_KEYS = {"error_rate_percent", "p99_duration_s", "cost_per_hour_usd"}
XRAY_MODES = ("otlp", "awsxray")  # agentcreator.collector.XRAY_MODES; a test keeps them equal
_SECURITY_KEYS = {
    "kms_key", "certificate_arn", "ssl_policy", "http", "alb_access_logs", "access_log_retention_days",
    "lambda_reserved_concurrency", "ecr_scan_on_push",
}
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/(mrk-)?[0-9a-f-]{32,36}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
# TLS 1.3 policies whose minimum is TLS 1.2 or 1.3 (ELBSecurityPolicy-TLS13-1-0/1-1 also allow older TLS).
_SSL_POLICY = re.compile(r"^ELBSecurityPolicy-TLS13-1-[23](-[A-Za-z0-9]+)*-20\d\d-\d\d$")
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class SettingsError(ValueError):
    """A context value is missing or invalid; the message names environment and key."""


@dataclass(frozen=True)
class CanarySettings:
    """Delivery canary (docs/canary.md): how often each task sends one, how long the checker waits
    for it, the window after which a backend without one alarms, and the latency that alarms."""

    interval_s: int
    timeout_s: int
    window_minutes: int
    latency_threshold_s: int


@dataclass(frozen=True)
class PipelineAlarmSettings:
    """Thresholds of the pipeline dashboard's alarms (docs/metrics.md): the share of invocations
    that fail, the p99 invocation duration, and the LLM cost of an hour."""

    error_rate_percent: float = 5.0
    p99_duration_s: float = 180.0
    cost_per_hour_usd: float = 5.0


@dataclass(frozen=True)
class SecuritySettings:
    """What a security review asks of one environment; every default is the safe choice."""

    kms_key: str  # "create" (one customer-managed key), "none" (AWS-owned keys), or a key ARN to import
    certificate_arn: str | None  # None: the internal ALB speaks plain HTTP inside the VPC
    ssl_policy: str
    http: str  # with a certificate: "closed" (no port 80) or "redirect" (port 80 answers 301 to HTTPS)
    alb_access_logs: bool
    access_log_retention_days: int
    lambda_reserved_concurrency: int
    ecr_scan_on_push: bool  # registry-wide scan-on-push rule for the CDK image-asset repositories

    @property
    def creates_key(self) -> bool:
        return self.kms_key == "create"

    @property
    def imported_key_arn(self) -> str | None:
        return self.kms_key if self.kms_key.startswith("arn:") else None

    @property
    def tls(self) -> bool:
        return self.certificate_arn is not None


@dataclass(frozen=True)
class Settings:
    name: str
    account: str | None
    region: str | None
    availability_zones: tuple[str, ...]  # with an explicit account: avoids a lookup at synth
    vpc_id: str | None  # None: create a VPC
    vpc_cidr: str  # the created VPC's range; the ALB admits callers from it
    max_azs: int
    nat_gateways: int
    cpu: int
    memory_mib: int
    collector_memory_mib: int
    desired_count: int
    min_count: int
    max_count: int
    cpu_target_percent: int
    sampling_percentage: float
    sampling_latency_threshold_ms: int
    log_retention_days: int
    langfuse_enabled: bool
    langfuse_host: str | None
    alarm_email: str
    bedrock_model_id: str
    transaction_search: bool
    shutdown_grace_s: int
    security: SecuritySettings
    xray_mode: str = "otlp"
    canary: CanarySettings | None = None  # None: no canary and no checker in this environment
    pipeline_alarms: PipelineAlarmSettings = PipelineAlarmSettings()

    @property
    def stack_name(self) -> str:
        return f"AgentCreator-{self.name}"

    @property
    def app_memory_mib(self) -> int:
        return self.memory_mib - self.collector_memory_mib

    @property
    def app_workers(self) -> int:
        """Server processes in the app container: one per whole vCPU (1024 units), at least one.
        One process is bound by the GIL; at 0.5 vCPU a second would only contend for it."""
        return max(1, self.cpu // 1024)

    @property
    def stop_timeout_s(self) -> int:
        """The app's grace plus a margin for the final span flush, capped at ECS's maximum."""
        return min(self.shutdown_grace_s + 5, ECS_MAX_STOP_TIMEOUT_S)


def _get(raw: dict[str, Any], path: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    value: Any = raw
    for part in path.split("."):
        value = value.get(part, ...) if isinstance(value, dict) else ...
    if value is ... or value is None:
        if default is ...:
            raise SettingsError(f"{where}: `{path}` is required")
        return default
    if isinstance(value, bool) and kind is not bool:
        raise SettingsError(f"{where}: `{path}` must be {kind}, not a boolean")
    if not isinstance(value, kind):
        raise SettingsError(f"{where}: `{path}` must be {kind}, got {value!r}")
    return value


def _check_keys(block: dict[str, Any], allowed: set[str], where: str, prefix: str = "") -> None:
    """A misspelt key is an error, not a default silently kept."""
    unknown = set(block) - allowed
    if unknown:
        raise SettingsError(f"{where}: unknown keys {prefix}{sorted(unknown)}; allowed: {sorted(allowed)}")


def _parse_security(raw: dict[str, Any], where: str, log_retention_days: int, region: str | None) -> SecuritySettings:
    block = _get(raw, "security", dict, where, {})
    _check_keys(block, _SECURITY_KEYS, where, "security.")
    kms_key = _get(raw, "security.kms_key", str, where, "create")
    if kms_key not in ("create", "none") and not _KMS_KEY_ARN.match(kms_key):
        raise SettingsError(f"{where}: `security.kms_key` must be \"create\", \"none\" or a KMS key ARN")
    certificate = _get(raw, "security.certificate_arn", str, where, None)
    if certificate is not None and not _CERTIFICATE_ARN.match(certificate):
        raise SettingsError(f"{where}: `security.certificate_arn` {certificate!r} is not an ACM certificate ARN")
    for key, arn, pattern in (("kms_key", kms_key, _KMS_KEY_ARN), ("certificate_arn", certificate, _CERTIFICATE_ARN)):
        found = pattern.match(arn or "")
        if found and region and found.group(1) != region:
            raise SettingsError(f"{where}: `security.{key}` is in {found.group(1)}, the stack in {region}")
    ssl_policy = _get(raw, "security.ssl_policy", str, where, DEFAULT_SSL_POLICY)
    if not _SSL_POLICY.match(ssl_policy):
        raise SettingsError(f"{where}: `security.ssl_policy` must be an ELBSecurityPolicy-TLS13-1-2-* or -1-3-* policy")
    http = _get(raw, "security.http", str, where, "closed")
    if http not in ("closed", "redirect"):
        raise SettingsError(f"{where}: `security.http` must be \"closed\" or \"redirect\"")
    log_days = _get(raw, "security.access_log_retention_days", int, where, log_retention_days)
    if not 1 <= log_days <= 3650:
        raise SettingsError(f"{where}: `security.access_log_retention_days` must be 1..3650")
    reserved = _get(raw, "security.lambda_reserved_concurrency", int, where, 1)
    if not 1 <= reserved <= 10:
        raise SettingsError(f"{where}: `security.lambda_reserved_concurrency` must be 1..10")
    return SecuritySettings(
        kms_key=kms_key,
        certificate_arn=certificate,
        ssl_policy=ssl_policy,
        http=http,
        alb_access_logs=_get(raw, "security.alb_access_logs", bool, where, True),
        access_log_retention_days=log_days,
        lambda_reserved_concurrency=reserved,
        ecr_scan_on_push=_get(raw, "security.ecr_scan_on_push", bool, where, False),
    )


def parse_settings(name: str, raw: dict[str, Any]) -> Settings:
    """Validate one environment's context dictionary."""
    where = f"agentcreator:environments.{name}"
    if not re.match(r"^[a-z][a-z0-9-]{0,30}$", name):
        raise SettingsError(f"{where}: environment names are lower-case letters, digits and dashes")
    _check_keys(raw, _KEYS, where)
    account = _get(raw, "account", str, where, None)
    region = _get(raw, "region", str, where, None)
    if account is not None and not _ACCOUNT.match(account):
        raise SettingsError(f"{where}: `account` must be 12 digits")
    if region is not None and not _REGION.match(region):
        raise SettingsError(f"{where}: `region` {region!r} is not a region name")
    if account is not None and region is None:
        raise SettingsError(f"{where}: an `account` needs a `region` as well")
    vpc_id = _get(raw, "vpc.id", str, where, None)
    if vpc_id is not None:
        if not _VPC_ID.match(vpc_id):
            raise SettingsError(f"{where}: `vpc.id` {vpc_id!r} is not a VPC id")
        if account is None:
            raise SettingsError(f"{where}: importing `vpc.id` needs `account` and `region` (VPC lookup)")
    vpc_cidr = _get(raw, "vpc.cidr", str, where, "10.0.0.0/16")
    try:
        network = ipaddress.ip_network(vpc_cidr)
    except ValueError:
        raise SettingsError(f"{where}: `vpc.cidr` {vpc_cidr!r} is not a CIDR block") from None
    if not network.is_private or not 16 <= network.prefixlen <= 20:
        raise SettingsError(f"{where}: `vpc.cidr` must be a private /16../20 block")
    cpu = _get(raw, "task.cpu", int, where)
    memory = _get(raw, "task.memory_mib", int, where)
    if memory not in _FARGATE_MEMORY.get(cpu, ()):
        raise SettingsError(f"{where}: `task.cpu`={cpu} with `task.memory_mib`={memory} is not a Fargate size")
    collector_memory = _get(raw, "task.collector_memory_mib", int, where)
    if not 128 <= collector_memory <= memory - 256:
        raise SettingsError(f"{where}: `task.collector_memory_mib` must be 128..{memory - 256} MiB")
    desired = _get(raw, "scaling.desired", int, where)
    minimum = _get(raw, "scaling.min", int, where)
    maximum = _get(raw, "scaling.max", int, where)
    if not 1 <= minimum <= desired <= maximum:
        raise SettingsError(f"{where}: need 1 <= scaling.min <= scaling.desired <= scaling.max")
    cpu_target = _get(raw, "scaling.cpu_target_percent", int, where, 60)
    if not 10 <= cpu_target <= 90:
        raise SettingsError(f"{where}: `scaling.cpu_target_percent` must be 10..90")
    percentage = float(_get(raw, "sampling.percentage", (int, float), where))
    if not 0 < percentage <= 100:
        raise SettingsError(f"{where}: `sampling.percentage` must be in (0, 100]")
    latency = _get(raw, "sampling.latency_threshold_ms", int, where)
    if latency <= 0:
        raise SettingsError(f"{where}: `sampling.latency_threshold_ms` must be positive")
    retention = _get(raw, "log_retention_days", int, where)
    if retention not in _RETENTION_DAYS:
        raise SettingsError(f"{where}: `log_retention_days` must be one of {_RETENTION_DAYS}")
    langfuse_enabled = _get(raw, "langfuse.enabled", bool, where, False)
    langfuse_host = _get(raw, "langfuse.host", str, where, None)
    if langfuse_enabled and not (langfuse_host or "").startswith("https://"):
        raise SettingsError(f"{where}: `langfuse.host` must be an https:// URL when Langfuse is enabled")
    email = _get(raw, "alarm_email", str, where)
    if not _EMAIL.match(email):
        raise SettingsError(f"{where}: `alarm_email` {email!r} is not an e-mail address")
    model_id = _get(raw, "bedrock_model_id", str, where)
    if not _MODEL_ID.match(model_id):
        raise SettingsError(f"{where}: `bedrock_model_id` {model_id!r} is not a Bedrock model id")
    xray_mode = _get(raw, "xray_mode", str, where, XRAY_MODES[0])
    if xray_mode not in XRAY_MODES:
        raise SettingsError(f"{where}: `xray_mode` must be one of {', '.join(XRAY_MODES)}, not {xray_mode!r}")
    grace = _get(raw, "shutdown_grace_s", int, where, APP_SHUTDOWN_GRACE_S)
    if not 1 <= grace <= ECS_MAX_STOP_TIMEOUT_S - 5:
        raise SettingsError(f"{where}: `shutdown_grace_s` must be 1..{ECS_MAX_STOP_TIMEOUT_S - 5}")
    return Settings(
        canary=_canary(raw, where),
        pipeline_alarms=_pipeline_alarms(raw, where),
        name=name,
        account=account,
        region=region,
        availability_zones=tuple(_get(raw, "availability_zones", list, where, [])),
        vpc_id=vpc_id,
        vpc_cidr=vpc_cidr,
        max_azs=_get(raw, "vpc.max_azs", int, where, 2),
        nat_gateways=_get(raw, "vpc.nat_gateways", int, where, 1),
        cpu=cpu,
        memory_mib=memory,
        collector_memory_mib=collector_memory,
        desired_count=desired,
        min_count=minimum,
        max_count=maximum,
        cpu_target_percent=cpu_target,
        sampling_percentage=percentage,
        sampling_latency_threshold_ms=latency,
        log_retention_days=retention,
        langfuse_enabled=langfuse_enabled,
        langfuse_host=langfuse_host.rstrip("/") if langfuse_host else None,
        alarm_email=email,
        bedrock_model_id=model_id,
        transaction_search=_get(raw, "transaction_search", bool, where, False),
        shutdown_grace_s=grace,
        xray_mode=xray_mode,
        security=_parse_security(raw, where, retention, region),
    )


def _canary(raw: dict[str, Any], where: str) -> CanarySettings | None:
    if _get(raw, "canary", dict, where, None) is None:
        return None
    interval = _get(raw, "canary.interval_s", int, where)
    if not 60 <= interval <= 3600:
        raise SettingsError(f"{where}: `canary.interval_s` must be 60..3600 seconds")
    timeout = _get(raw, "canary.timeout_s", int, where, 180)
    if not 30 <= timeout <= 800:  # the checker Lambda waits this long, within its 15-minute limit
        raise SettingsError(f"{where}: `canary.timeout_s` must be 30..800 seconds")
    window = _get(raw, "canary.window_minutes", int, where)
    if window * 60 < 2 * interval + timeout:
        raise SettingsError(
            f"{where}: `canary.window_minutes` must cover two canaries and a timeout "
            f"(at least {-(-(2 * interval + timeout) // 60)} minutes)"
        )
    if window > 1440:
        raise SettingsError(f"{where}: `canary.window_minutes` must be at most 1440 (one day)")
    latency = _get(raw, "canary.latency_threshold_s", int, where)
    if not 1 <= latency < timeout:
        raise SettingsError(f"{where}: `canary.latency_threshold_s` must be 1..{timeout - 1} (below the timeout)")
    return CanarySettings(interval_s=interval, timeout_s=timeout, window_minutes=window, latency_threshold_s=latency)


def _pipeline_alarms(raw: dict[str, Any], where: str) -> PipelineAlarmSettings:
    block = _get(raw, "pipeline_alarms", dict, where, {})
    _check_keys(block, _PIPELINE_ALARM_KEYS, where, "pipeline_alarms.")
    defaults = PipelineAlarmSettings()
    rate = float(_get(raw, "pipeline_alarms.error_rate_percent", (int, float), where, defaults.error_rate_percent))
    if not 0 < rate < 100:
        raise SettingsError(f"{where}: `pipeline_alarms.error_rate_percent` must be in (0, 100)")
    p99 = float(_get(raw, "pipeline_alarms.p99_duration_s", (int, float), where, defaults.p99_duration_s))
    if not 1 <= p99 <= 3600:
        raise SettingsError(f"{where}: `pipeline_alarms.p99_duration_s` must be 1..3600 seconds")
    cost = float(_get(raw, "pipeline_alarms.cost_per_hour_usd", (int, float), where, defaults.cost_per_hour_usd))
    if not 0 < cost <= 100000:
        raise SettingsError(f"{where}: `pipeline_alarms.cost_per_hour_usd` must be in (0, 100000]")
    return PipelineAlarmSettings(error_rate_percent=rate, p99_duration_s=p99, cost_per_hour_usd=cost)
