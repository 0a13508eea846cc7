"""Names the collector configuration and the infra agree on: version, paths, env vars."""

from __future__ import annotations

from pathlib import Path

# The one place the ADOT version is named; collector/adot-components.txt must say the same.
ADOT_VERSION = "v0.49.0"
ADOT_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:" + ADOT_VERSION

# Where the app sends spans (the infra sets OTEL_EXPORTER_OTLP_ENDPOINT to this); the
# collector's OTLP/HTTP receiver must listen exactly here.
APP_OTLP_ENDPOINT = "http://127.0.0.1:4318"

# service/agentcreator/collector/ -> repo root. Only read lazily: the image has no collector/.
_REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG_PATH = _REPO_ROOT / "collector" / "otel-config.yaml"
COMPONENTS_FILE = "adot-components.txt"
XRAY_AWSXRAY_FRAGMENT = "xray-awsxray.yaml"
METRICS_FILE = "adot-metrics.txt"

# "otlp": the X-Ray OTLP endpoint with SigV4 (default; needs CloudWatch Transaction Search).
# "awsxray": PutTraceSegments through the awsxray exporter, for accounts without it.
XRAY_MODES = ("otlp", "awsxray")
DEFAULT_XRAY_MODE = "otlp"

# Every variable the infra sets on the collector container, with what it means.
# collector/README.md documents each with an example value; a test keeps the two in step.
_ENV_MEANING = {
    "COLLECTOR_MEMORY_LIMIT_MIB": "memory_limiter's heap limit in MiB (container memory minus measured non-heap use)",
    "COLLECTOR_MEMORY_SPIKE_MIB": "memory_limiter spike allowance in MiB; refusals start at limit minus spike",
    "COLLECTOR_QUEUE_BYTES": "each OTLP exporter's sending queue, in bytes of OTLP spans",
    "SAMPLING_PERCENTAGE": "percentage of ordinary traces kept (errors and slow traces are always kept)",
    "SAMPLING_LATENCY_THRESHOLD_MS": "traces at least this long (ms) are always kept",
    "LANGFUSE_OTLP_ENDPOINT": "Langfuse OTLP base URL, without /v1/traces",
    "LANGFUSE_AUTHORIZATION": "Authorization header value for Langfuse, from Secrets Manager",
    "ENVIRONMENT": "deployment environment; dimension on the collector's metrics",
    "SERVICE_NAME": "service name; dimension on the collector's metrics",
    "XRAY_OTLP_TRACES_ENDPOINT": "X-Ray's OTLP traces URL, https://xray.<region>.amazonaws.com/v1/traces",
    "AWS_REGION": "region for X-Ray, CloudWatch and SigV4",
}
INFRA_PROVIDED_ENV: frozenset[str] = frozenset(_ENV_MEANING)
