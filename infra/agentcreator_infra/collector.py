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
HEADROOM_MIB = 50  # DESIGN 6b: memory_limiter stays ~50 MiB under the container's limit
SECRET_ENV = "LANGFUSE_AUTHORIZATION"  # the only collector input that comes from Secrets Manager


class CollectorConfigError(RuntimeError):
    """The rendered collector config is invalid or needs inputs the stack does not provide."""


@dataclass(frozen=True)
class CollectorWiring:
    config: str  # AOT_CONFIG_CONTENT
    environment: dict[str, str]  # plain env vars (no secrets)
    secret_names: frozenset[str]  # env vars to fill from Secrets Manager

    @property
    def emf_exporter(self) -> dict:
        """The awsemf exporter that ships the collector's own metrics (namespace, log group)."""
        exporters = yaml.safe_load(self.config).get("exporters", {})
        found = [value for key, value in exporters.items() if key.split("/")[0] == "awsemf"]
        if len(found) != 1:
            raise CollectorConfigError(f"expected one awsemf exporter for the collector's metrics, found {len(found)}")
        return found[0]

    @property
    def metrics_namespace(self) -> str:
        return self.emf_exporter["namespace"]

    @property
    def metrics_log_group_name(self) -> str:
        """awsemf's log_group_name with ${env:NAME} filled in, as the running collector will see it."""
        name = self.emf_exporter["log_group_name"]
        return re.sub(r"\$\{env:([A-Za-z0-9_]+)\}", lambda m: self.environment[m.group(1)], name)


def memory_limits(collector_memory_mib: int) -> tuple[int, int]:
    """memory_limiter's limit and spike (~20 %) for a container with this hard limit."""
    limit = collector_memory_mib - HEADROOM_MIB
    return limit, max(1, round(limit * 0.2))


def _candidates(settings: Settings, region: str) -> dict[str, str]:
    limit, spike = memory_limits(settings.collector_memory_mib)
    values = {
        "COLLECTOR_MEMORY_LIMIT_MIB": str(limit),
        "COLLECTOR_MEMORY_SPIKE_MIB": str(spike),
        "SAMPLING_PERCENTAGE": f"{settings.sampling_percentage:g}",
        "SAMPLING_LATENCY_THRESHOLD_MS": str(settings.sampling_latency_threshold_ms),
        "ENVIRONMENT": settings.name,
        "SERVICE_NAME": SERVICE_NAME,
        "AWS_REGION": region,
    }
    if settings.langfuse_enabled and settings.langfuse_host:
        values["LANGFUSE_OTLP_ENDPOINT"] = f"{settings.langfuse_host}/api/public/otel"
    return values


def wiring(settings: Settings, *, region: str) -> CollectorWiring:
    """Render, validate and pair the config with exactly the variables it references."""
    config = _collector.render_config(langfuse_enabled=settings.langfuse_enabled)
    available = _candidates(settings, region)
    provided = frozenset(available) | ({SECRET_ENV} if settings.langfuse_enabled else frozenset())
    problems = list(_collector.validate_config(config, provided_env=provided))
    required = set(_collector.required_env(config))
    missing = sorted(required - set(available) - {SECRET_ENV})
    if missing:
        problems.append(f"the config expands {missing}, which the stack does not provide")
    if SECRET_ENV in required and not settings.langfuse_enabled:
        problems.append(f"the config reads {SECRET_ENV} but Langfuse is disabled for {settings.name}")
    if problems:
        raise CollectorConfigError(
            f"collector config for environment {settings.name!r} is invalid: " + "; ".join(problems)
        )
    return CollectorWiring(
        config=config,
        environment={name: available[name] for name in sorted(required - {SECRET_ENV})},
        secret_names=frozenset(required & {SECRET_ENV}),
    )
