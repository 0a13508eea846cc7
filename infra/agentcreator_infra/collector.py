"""The ADOT sidecar's configuration for one environment, rendered and checked at synth time.

The collector package (`agentcreator.collector`) owns the config and the names of the
environment variables it expands; this module supplies exactly those names and fails synth
when the config asks for one infra cannot provide, or when the validator finds a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from agentcreator import collector as _collector

if TYPE_CHECKING:
    from agentcreator_infra.settings import Settings

ADOT_IMAGE: str = _collector.ADOT_IMAGE
APP_OTLP_ENDPOINT: str = _collector.APP_OTLP_ENDPOINT
SERVICE_NAME = "agentcreator-meta-agent"
COLLECTOR_EMF_EXPORTER = "awsemf/collector"  # the collector's own metrics (collector/otel-config.yaml)
APP_EMF_EXPORTER = "awsemf/app"  # the app's metrics (docs/metrics.md)
SECRET_ENV = "LANGFUSE_AUTHORIZATION"  # the only collector input that comes from Secrets Manager
# memory_limiter compares the Go heap (runtime Alloc) with its limit; the container's hard limit
# sees the whole resident set. Measured in ADOT v0.49.0 (collector/README.md, "Memory"): the
# binary's own pages and the Go runtime outside the heap came to at most this much on top of
# the heap, so the limit sits this far below the container's memory.
NON_HEAP_MIB = 100
SPIKE_FRACTION = 0.2  # refusals start at limit minus spike (~20 %, the collector's own default)
QUEUE_FRACTION = 0.25  # each OTLP exporter's queue may take this share of the heap below the spike
# In awsxray mode every span becomes a segment document that X-Ray rejects over 64 KB, silently.
# Go's JSON writes each of < > & and control characters as six bytes, so the app's per-span
# content is capped to a sixth of what is left after the measured fixed part of a document.
AWSXRAY_SPAN_CONTENT_BYTES = 8192


class CollectorConfigError(RuntimeError):
    """The rendered collector config is invalid or needs inputs the stack does not provide."""


@dataclass(frozen=True)
class CollectorWiring:
    config: str  # AOT_CONFIG_CONTENT
    environment: dict[str, str]  # plain env vars (no secrets)
    secret_names: frozenset[str]  # env vars to fill from Secrets Manager
    app_environment: dict[str, str]  # what the app needs for this collector (awsxray: a smaller span)
    runtime_environment: dict[str, str]  # for the collector's Go runtime, not read by the config

    def _exporter(self, exporter_id: str) -> dict:
        exporters = yaml.safe_load(self.config).get("exporters", {})
        if exporter_id not in exporters:
            raise CollectorConfigError(f"the collector config has no exporter {exporter_id}")
        return exporters[exporter_id]

    def _filled(self, value: str) -> str:
        """A config string with ${env:NAME} filled in, as the running collector will see it."""
        return re.sub(r"\$\{env:([A-Za-z0-9_]+)\}", lambda m: self.environment[m.group(1)], value)

    @property
    def emf_exporter(self) -> dict:
        """The awsemf exporter that ships the collector's own metrics (namespace, log group)."""
        return self._exporter(COLLECTOR_EMF_EXPORTER)

    @property
    def metrics_namespace(self) -> str:
        return self.emf_exporter["namespace"]

    @property
    def metrics_log_group_name(self) -> str:
        """awsemf's log_group_name with ${env:NAME} filled in, as the running collector will see it."""
        return self._filled(self.emf_exporter["log_group_name"])

    @property
    def app_emf_exporter(self) -> dict:
        """The awsemf exporter that ships the app's metrics: namespace, log group, metric declarations."""
        return self._exporter(APP_EMF_EXPORTER)

    @property
    def app_metrics_log_group_name(self) -> str:
        return self._filled(self.app_emf_exporter["log_group_name"])


def memory_limits(collector_memory_mib: int) -> tuple[int, int]:
    """memory_limiter's heap limit and spike for a container with this hard limit (MiB)."""
    limit = collector_memory_mib - NON_HEAP_MIB
    return limit, max(1, round(limit * SPIKE_FRACTION))


def go_memory_limit(collector_memory_mib: int) -> str:
    """GOMEMLIMIT for the collector: the Go runtime's own memory (heap, stacks, GC metadata) kept to
    the container's memory minus the binary's pages. Near it the garbage collector works harder, so
    the heap stays near what is live while the memory limiter refuses; without it, 128 senders at
    once pushed the dev collector's heap 25 MiB past its limit, the kernel evicted the binary's
    pages and the collector stopped answering (collector/README.md, "Memory")."""
    return f"{collector_memory_mib - NON_HEAP_MIB}MiB"


def queue_bytes(collector_memory_mib: int) -> int:
    """Each OTLP exporter's sending queue, in bytes of OTLP spans."""
    limit, spike = memory_limits(collector_memory_mib)
    return int((limit - spike) * QUEUE_FRACTION) * 1024 * 1024


def xray_otlp_endpoint(region: str) -> str:
    return f"https://xray.{region}.amazonaws.com/v1/traces"


def _candidates(settings: Settings, region: str) -> dict[str, str]:
    limit, spike = memory_limits(settings.collector_memory_mib)
    values = {
        "COLLECTOR_MEMORY_LIMIT_MIB": str(limit),
        "COLLECTOR_MEMORY_SPIKE_MIB": str(spike),
        "COLLECTOR_QUEUE_BYTES": str(queue_bytes(settings.collector_memory_mib)),
        "SAMPLING_PERCENTAGE": f"{settings.sampling_percentage:g}",
        "SAMPLING_LATENCY_THRESHOLD_MS": str(settings.sampling_latency_threshold_ms),
        "ENVIRONMENT": settings.name,
        "SERVICE_NAME": SERVICE_NAME,
        "AWS_REGION": region,
        "XRAY_OTLP_TRACES_ENDPOINT": xray_otlp_endpoint(region),
    }
    if settings.langfuse_enabled and settings.langfuse_host:
        values["LANGFUSE_OTLP_ENDPOINT"] = f"{settings.langfuse_host}/api/public/otel"
    return values


def wiring(settings: Settings, *, region: str) -> CollectorWiring:
    """Render, validate and pair the config with exactly the variables it references."""
    available = _candidates(settings, region)
    secrets = frozenset({SECRET_ENV}) if settings.langfuse_enabled else frozenset()
    unrendered = _collector.render_config(langfuse_enabled=settings.langfuse_enabled, xray_mode=settings.xray_mode)
    required = set(_collector.required_env(unrendered))
    environment = {name: available[name] for name in sorted(required - secrets) if name in available}
    try:
        config = _collector.render_config(
            langfuse_enabled=settings.langfuse_enabled, xray_mode=settings.xray_mode,
            values=environment, secret_names=secrets,
        )
    except ValueError as error:
        raise CollectorConfigError(f"collector config for environment {settings.name!r}: {error}") from None
    problems = list(_collector.validate_config(config, provided_env=frozenset(environment) | secrets))
    if SECRET_ENV in required and not settings.langfuse_enabled:
        problems.append(f"the config reads {SECRET_ENV} but Langfuse is disabled for {settings.name}")
    if problems:
        raise CollectorConfigError(
            f"collector config for environment {settings.name!r} is invalid: " + "; ".join(problems)
        )
    app_environment = {}
    if settings.xray_mode == "awsxray":
        app_environment["AGENTCREATOR_MAX_SPAN_CONTENT_BYTES"] = str(AWSXRAY_SPAN_CONTENT_BYTES)
    return CollectorWiring(
        config=config,
        environment=environment,
        secret_names=frozenset(required & secrets),
        app_environment=app_environment,
        runtime_environment={"GOMEMLIMIT": go_memory_limit(settings.collector_memory_mib)},
    )
