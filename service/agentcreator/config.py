"""Every environment variable AgentCreator reads, parsed once into a typed ``Settings``.

Precedence is explicit argument > environment variable > default. Our own variables fail
fast with one line naming the variable (a bad deploy then rolls back). The standard ``OTEL_*``
variables keep the meaning and precedence the OpenTelemetry specification gives them: those
that decide whether and where we export (endpoint, protocol, exporters, ``OTEL_SDK_DISABLED``)
are resolved here; the rest (resource, sampler, batch sizes, certificates, compression, timeout)
are read by the SDK itself, and only validated here where a bad value would crash it.
``STANDARD_VARIABLES`` lists those the SDK reads for us.

    >>> settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    >>> settings.otlp_traces_endpoint
    'http://collector:4318/v1/traces'
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_LM = "bedrock/amazon.nova-pro-v1:0"

# name: (meaning, default) — the one table of every variable; the README's table mirrors it.
VARIABLES: dict[str, tuple[str, str]] = {
    "ENVIRONMENT": ("deployment environment, on every span's resource", "production"),
    "OTEL_SDK_DISABLED": ("true: no tracing at all (no provider, exporter or instrumentation)", "false"),
    "OTEL_TRACES_EXPORTER": ("comma-separated: otlp, console (to stderr), none", "otlp when an endpoint is set"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "OTLP endpoint; a base URL or a full /v1/traces URL, normalized to one traces URL",
        "unset: no OTLP export",
    ),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("traces endpoint used as-is; wins over the one above", "unset"),
    "OTEL_EXPORTER_OTLP_HEADERS": ("k=v,k2=v2 headers for the OTLP exporter, values URL-encoded", "unset"),
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": ("traces headers; replace the ones above when set", "unset"),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("http/protobuf or grpc", "http/protobuf"),
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": ("the traces protocol; wins over the one above", "unset"),
    "OTEL_EXPORTER_OTLP_TIMEOUT": ("export timeout in seconds (the Python SDK's unit)", "10"),
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": ("the traces export timeout; wins over the one above", "unset"),
    "OTEL_EXPORTER_OTLP_COMPRESSION": ("gzip, none (or deflate over HTTP)", "none"),
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": ("the traces compression; wins over the one above", "unset"),
    "OTEL_DEBUG": ("also print every span to the console (stderr)", "false"),
    "OTEL_METRICS_EXPORTER": ("comma-separated: otlp, console (to stderr), none", "otlp when an endpoint is set"),
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": (
        "metrics endpoint used as-is; else OTEL_EXPORTER_OTLP_ENDPOINT's base + /v1/metrics (never Langfuse's)",
        "unset",
    ),
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": ("the metrics protocol; wins over OTEL_EXPORTER_OTLP_PROTOCOL", "unset"),
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": ("the metrics compression; wins over OTEL_EXPORTER_OTLP_COMPRESSION",
                                               "unset"),
    "OTEL_METRIC_EXPORT_INTERVAL": ("milliseconds between metric exports (the SDK reads it)", "60000"),
    "OTEL_BSP_MAX_QUEUE_SIZE": ("spans queued for export; set either size and both are the SDK's", "512"),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("spans in one export request", "64"),
    "AGENTCREATOR_SPAN_QUEUE_MIB": (
        "memory the spans waiting for export may hold while the collector takes none (an export failed or "
        "has hung for a second), per task (shared by its workers); past it new spans are dropped and counted",
        "4",
    ),
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": ("record prompts and completions on LLM spans", "true"),
    "AGENTCREATOR_MAX_CONTENT_BYTES": ("truncate each recorded prompt/completion to this many bytes", "16384"),
    "AGENTCREATOR_MAX_SPAN_CONTENT_BYTES": (
        "and all of one span's strings together to this many (X-Ray rejects segments over 64 KB)",
        "40960",
    ),
    "LANGFUSE_PUBLIC_KEY": ("with the secret key: export to Langfuse with Basic auth", "unset"),
    "LANGFUSE_SECRET_KEY": ("with the public key: export to Langfuse with Basic auth", "unset"),
    "LANGFUSE_HOST": ("Langfuse base URL", "https://cloud.langfuse.com"),
    "AGENTCREATOR_LM": ("LiteLLM model string, or offline[:options] for the simulated LM", DEFAULT_LM),
    "AGENTCREATOR_MAX_CONCURRENCY": ("invocations served at once before 503", "64"),
    "AGENTCREATOR_SHUTDOWN_GRACE_S": ("seconds in-flight invocations get after SIGTERM", "25"),
    "AGENTCREATOR_WORKERS": ("server processes behind one port (agentcreator serve; --workers wins)", "1"),
    "AGENTCREATOR_LM_TIMEOUT_S": ("per-call LM timeout in seconds", "120"),
    "AGENTCREATOR_CANARY_INTERVAL_S": (
        "seconds between canary traces (docs/canary.md); 0 sends none, else at least 10", "0: no canary"),
    "AGENTCREATOR_LM_RETRIES": ("retries of a throttled or failed LM call", "3"),
    "AGENTCREATOR_LM_RETRY_MAX_DELAY_S": (
        "longest wait before an LM retry, capping DSPy's 1, 2, 4 ... s backoff and any Retry-After",
        "20",
    ),
    "AWS_REGION": (
        "region of Bedrock calls (the AWS SDK variable; wins over AWS_DEFAULT_REGION)",
        "unset: AWS_DEFAULT_REGION, else the AWS profile's region",
    ),
    "AWS_DEFAULT_REGION": ("region of Bedrock calls when AWS_REGION is unset", "unset"),
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": (
        "Bedrock Runtime endpoint (VPC endpoint, proxy, local server); the AWS SDK variable, handed to LiteLLM, "
        "which itself reads only AWS_BEDROCK_RUNTIME_ENDPOINT",
        "unset: AWS_ENDPOINT_URL, else https://bedrock-runtime.<region>.amazonaws.com",
    ),
    "AWS_ENDPOINT_URL": (
        "the AWS SDK's endpoint for every service; used for Bedrock when the variable above is unset",
        "unset",
    ),
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": ("true: ignore both endpoint variables above, as the AWS SDKs do", "false"),
}

# Standard variables the OpenTelemetry SDK reads itself, with the precedence it gives them
# (docs/configuration.md explains each); listed so tests and docs can see the whole surface.
STANDARD_VARIABLES: tuple[str, ...] = (
    "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
    "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "OTEL_METRICS_EXEMPLAR_FILTER",
)

SERVICE_NAME = "agentcreator-meta-agent"
LANGFUSE_DEFAULT_HOST = "https://cloud.langfuse.com"
LANGFUSE_OTLP_PATH = "/api/public/otel"
_TRACES_PATH = "/v1/traces"
_METRICS_PATH = "/v1/metrics"
_PROTOCOLS = ("http/protobuf", "grpc")
# Smaller than the SDK's 2048-span queue and 512-span batches: our LLM spans hold their prompts
# (10-50 KB each), so the SDK's defaults keep ~40 MB queued and build 15 MB export requests
# (over a gRPC collector's 4 MiB limit). Measured in benchmarks/memory.py.
SPAN_BATCH_LIMITS = {"max_queue_size": 512, "max_export_batch_size": 64}
# And, while the collector takes no spans, bounded in memory: 512 LLM spans of 200 KB prompts
# would hold hundreds of MB for as long as it is down. 4 MiB keeps ~135 spans of the
# benchmarks' 10-15 KB prompts, a few invocations' worth (benchmarks/memory.py).
SPAN_QUEUE_MIB = 4
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A bad environment variable; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    """The parsed configuration. Headers are kept out of ``repr`` so they never reach a log."""

    environment: str = "production"
    otlp_traces_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_timeout_s: float = 10.0
    otlp_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    otlp_compression: str = "none"
    otlp_endpoint_source: str = ""  # the variable(s) the endpoint came from, for doctor
    langfuse_headers: bool = False  # whether our Langfuse variables added headers the exporter must be given
    langfuse_problem: str | None = None  # Langfuse keys set, but traces go elsewhere: they are not sent
    sdk_disabled: bool = False
    traces_exporters: tuple[str, ...] = ()  # "otlp", "console": what OTEL_TRACES_EXPORTER and OTEL_DEBUG ask
    debug: bool = False
    capture_content: bool = True
    max_content_bytes: int = 16384
    max_span_content_bytes: int = 40960
    lm: str = DEFAULT_LM
    max_concurrency: int = 64
    shutdown_grace_s: float = 25.0
    workers: int = 1
    lm_timeout_s: float = 120.0
    lm_retries: int = 3
    span_batch_limits: Mapping[str, int] = field(default_factory=lambda: dict(SPAN_BATCH_LIMITS))
    span_queue_bytes: int = SPAN_QUEUE_MIB << 20  # this process's share of the task's
    lm_retry_max_delay_s: float = 20.0
    aws_region: str | None = None
    bedrock_runtime_endpoint: str | None = None
    canary_interval_s: float = 0.0
    metrics_exporters: tuple[str, ...] = ()  # "otlp", "console": what OTEL_METRICS_EXPORTER asks
    otlp_metrics_endpoint: str | None = None  # a full /v1/metrics URL (OTLP/HTTP) or a base URL (gRPC)
    otlp_metrics_protocol: str = "http/protobuf"
    otlp_metrics_compression: str = "none"
    metrics_endpoint_source: str = ""
    metrics_problem: str | None = None  # why metrics are not exported where traces go

    @property
    def otlp_header_names(self) -> list[str]:
        """Header names only: what is safe to show a user."""
        return sorted(self.otlp_headers)

    @property
    def exports_otlp(self) -> bool:
        return "otlp" in self.traces_exporters and bool(self.otlp_traces_endpoint)

    @property
    def console(self) -> bool:
        return "console" in self.traces_exporters

    @property
    def exports_otlp_metrics(self) -> bool:
        return "otlp" in self.metrics_exporters and bool(self.otlp_metrics_endpoint)

    @property
    def shown_traces_endpoint(self) -> str:
        """The traces endpoint in the form its protocol uses, safe to print: a URL for OTLP/HTTP,
        ``host:port`` for gRPC."""
        url = self.otlp_traces_endpoint or ""
        if self.otlp_protocol != "grpc":
            return shown_url(url)
        parts = urlsplit(url)
        transport = "TLS" if parts.scheme == "https" else "insecure unless OTEL_EXPORTER_OTLP_(TRACES_)INSECURE=false"
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 4317)} (OTLP/gRPC, {transport})"


def shown_url(url: str) -> str:
    """The URL without any user:password part, safe to print."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def normalize_traces_endpoint(url: str, variable: str = "OTEL_EXPORTER_OTLP_ENDPOINT") -> str:
    """Turn a base URL (``https://host/api/public/otel``) or a full traces URL into the traces URL."""
    url = url.strip()
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"{variable}={url!r} is not an http(s) URL with a host and a valid port (e.g. http://127.0.0.1:4318)"
        )
    base = url.rstrip("/")
    return base if base.endswith(_TRACES_PATH) else base + _TRACES_PATH


def grpc_endpoint(traces_url: str) -> str:
    """gRPC exporters take the base URL: the service path is implied."""
    return traces_url[: -len(_TRACES_PATH)] if traces_url.endswith(_TRACES_PATH) else traces_url


def grpc_compression(value: str) -> Any:
    """``grpc.Compression`` for a resolved compression (``gzip`` or ``none``), given to the SDK's
    gRPC exporters explicitly: they raise on a compression variable set to ``none``."""
    from grpc import Compression

    return Compression.Gzip if value == "gzip" else Compression.NoCompression


def langfuse_authorization(public_key: str, secret_key: str) -> str:
    """Langfuse's OTLP endpoint takes Basic auth over ``public:secret`` (not Bearer)."""
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
    return f"Basic {token}"


def parse_headers(raw: str, variable: str = "OTEL_EXPORTER_OTLP_HEADERS") -> dict[str, str]:
    """Parse the standard ``k=v,k2=v2`` form; values are URL-decoded (``Basic%20...``)."""
    headers: dict[str, str] = {}
    for item in filter(None, (piece.strip() for piece in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{variable}: {key.strip() or item!r} is not of the form name=value")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _number(env: Mapping[str, str], name: str, default: float, *, kind: type = float, minimum: float = 0):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _signal_variable(env: Mapping[str, str], suffix: str, signal: str = "TRACES") -> tuple[str, str]:
    """``OTEL_EXPORTER_OTLP_<signal>_<suffix>`` if set, else ``OTEL_EXPORTER_OTLP_<suffix>`` (the
    SDK's order; an empty value counts as unset): the variable's name and its value."""
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
        raw = env.get(name, "").strip()
        if raw:
            return name, raw
    return f"OTEL_EXPORTER_OTLP_{suffix}", ""


def _is_langfuse(host: str, langfuse_host: str) -> bool:
    host = host.lower()
    return host == langfuse_host.lower() or host == "langfuse.com" or host.endswith(".langfuse.com")


_DEFAULT_OTLP_ENDPOINTS = {"http/protobuf": "http://localhost:4318/v1/traces", "grpc": "http://localhost:4317"}


def _otlp(env: Mapping[str, str], protocol: str, exporters: tuple[str, ...]) -> dict[str, object]:
    """Endpoint and headers: the standard variables first; Langfuse's keys fill in what they leave
    unset, and only for an endpoint that is Langfuse's (its credentials go nowhere else)."""
    header_variable, raw_headers = _signal_variable(env, "HEADERS")
    headers = parse_headers(raw_headers, header_variable)
    public, secret = env.get("LANGFUSE_PUBLIC_KEY", "").strip(), env.get("LANGFUSE_SECRET_KEY", "").strip()
    endpoint, source = None, ""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        endpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].strip()
        normalize_traces_endpoint(endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")  # validates only: used as-is
        source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        endpoint, source = normalize_traces_endpoint(env["OTEL_EXPORTER_OTLP_ENDPOINT"]), "OTEL_EXPORTER_OTLP_ENDPOINT"
    values: dict[str, object] = {"langfuse_headers": False, "langfuse_problem": None}
    if public or secret:
        if not (public and secret):
            missing = "LANGFUSE_SECRET_KEY" if public else "LANGFUSE_PUBLIC_KEY"
            raise ConfigError(f"{missing} is not set: Langfuse export needs both the public and the secret key")
        host = env.get("LANGFUSE_HOST", "").strip() or LANGFUSE_DEFAULT_HOST
        langfuse_endpoint = normalize_traces_endpoint(host.rstrip("/") + LANGFUSE_OTLP_PATH, "LANGFUSE_HOST")
        langfuse_host = urlsplit(langfuse_endpoint).hostname or ""
        if endpoint is None:
            endpoint, source = langfuse_endpoint, "LANGFUSE_HOST"
        target = urlsplit(endpoint).hostname or ""
        if _is_langfuse(target, langfuse_host):
            added = {"authorization": langfuse_authorization(public, secret), "x-langfuse-ingestion-version": "4"}
            values["langfuse_headers"] = any(name not in headers for name in added)
            headers = {**added, **headers}  # the standard headers win
        else:
            values["langfuse_problem"] = (
                f"LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set, but {source} sends traces to {target}, "
                f"not Langfuse ({langfuse_host}): the Langfuse credentials are not sent there"
            )
    if endpoint is None and "otlp" in exporters and env.get("OTEL_TRACES_EXPORTER", "").strip():
        endpoint, source = _DEFAULT_OTLP_ENDPOINTS[protocol], "OTEL_TRACES_EXPORTER=otlp (the specification's default)"
    values.update(otlp_traces_endpoint=endpoint, otlp_headers=headers, otlp_endpoint_source=source)
    return values


_EXPORTERS = ("otlp", "console", "none")


def _exporters(env: Mapping[str, str], variable: str) -> list[str]:
    """``OTEL_TRACES_EXPORTER``'s or ``OTEL_METRICS_EXPORTER``'s list (default otlp), without none."""
    raw = env.get(variable, "").strip()
    names = [name.strip().lower() for name in raw.split(",") if name.strip()] or ["otlp"]
    unknown = [name for name in names if name not in _EXPORTERS]
    if unknown:
        raise ConfigError(f"{variable}={raw!r}: {unknown[0]!r} is not one of {', '.join(_EXPORTERS)}")
    return [name for name in names if name != "none"]


def _traces_exporters(env: Mapping[str, str], debug: bool) -> tuple[str, ...]:
    """OTEL_TRACES_EXPORTER's list (default otlp), plus the console for OTEL_DEBUG."""
    return tuple(dict.fromkeys(_exporters(env, "OTEL_TRACES_EXPORTER") + (["console"] if debug else [])))


def _metrics(env: Mapping[str, str], traces_endpoint_source: str) -> dict[str, object]:
    """Where metrics go: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as-is, else the generic endpoint's base
    with /v1/metrics, else (OTEL_METRICS_EXPORTER=otlp) the specification's default. Langfuse takes
    traces only: an endpoint that is Langfuse's (or came from the Langfuse keys) gets no metrics."""
    exporters = tuple(dict.fromkeys(_exporters(env, "OTEL_METRICS_EXPORTER")))
    protocol = _protocol(env, "METRICS")
    endpoint, source, problem = None, "", None
    specific = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    generic = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if specific:
        normalize_traces_endpoint(specific, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")  # validates only: used as-is
        endpoint, source = specific, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    elif generic:
        base = grpc_endpoint(normalize_traces_endpoint(generic))
        langfuse_host = urlsplit(env.get("LANGFUSE_HOST", "").strip() or LANGFUSE_DEFAULT_HOST).hostname or ""
        if base.endswith(LANGFUSE_OTLP_PATH) or _is_langfuse(urlsplit(base).hostname or "", langfuse_host):
            problem = "OTEL_EXPORTER_OTLP_ENDPOINT is Langfuse's, which takes no metrics: none are exported"
        else:
            endpoint, source = base + _METRICS_PATH, "OTEL_EXPORTER_OTLP_ENDPOINT"
    elif traces_endpoint_source == "LANGFUSE_HOST":
        problem = "traces go to Langfuse, which takes no metrics: set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT for them"
    elif "otlp" in exporters and env.get("OTEL_METRICS_EXPORTER", "").strip():
        endpoint = "http://localhost:4318" + _METRICS_PATH
        source = "OTEL_METRICS_EXPORTER=otlp (the specification's default)"
    if endpoint is not None and protocol == "grpc":
        endpoint = grpc_endpoint(endpoint[: -len(_METRICS_PATH)] if endpoint.endswith(_METRICS_PATH) else endpoint)
    return {"metrics_exporters": exporters, "otlp_metrics_endpoint": endpoint, "otlp_metrics_protocol": protocol,
            "otlp_metrics_compression": _compression(env, protocol, "METRICS"),
            "metrics_endpoint_source": source, "metrics_problem": problem}


def _protocol(env: Mapping[str, str], signal: str = "TRACES") -> str:
    variable, protocol = _signal_variable(env, "PROTOCOL", signal)
    protocol = protocol or "http/protobuf"
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"{variable}={protocol!r} is not one of {', '.join(_PROTOCOLS)}")
    return protocol


def _compression(env: Mapping[str, str], protocol: str, signal: str = "TRACES") -> str:
    """Validated here: the SDK's gRPC exporter raises on anything but gzip (even ``none``), and its
    HTTP metric exporter sends an unknown value uncompressed without a word."""
    variable, raw = _signal_variable(env, "COMPRESSION", signal)
    value = raw.lower() or "none"
    allowed = ("gzip", "none") if protocol == "grpc" else ("gzip", "deflate", "none")
    if value not in allowed:
        raise ConfigError(f"{variable}={raw!r} is not one of {', '.join(allowed)} (protocol {protocol})")
    return value


def _timeout(env: Mapping[str, str]) -> float:
    variable, raw = _signal_variable(env, "TIMEOUT")
    return _number({variable: raw} if raw else {}, variable, 10.0, minimum=0.001)


_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def _aws_region(env: Mapping[str, str]) -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION (the AWS SDKs' order); None leaves it to the profile."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        raw = env.get(name, "").strip()
        if raw:
            if not _AWS_REGION.match(raw):
                raise ConfigError(f"{name}={raw!r} is not an AWS region name (e.g. us-east-1)")
            return raw
    return None


def _bedrock_endpoint(env: Mapping[str, str]) -> str | None:
    """The SDKs' endpoint override, service-specific first; LiteLLM gets it as an argument."""
    if _bool(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", False):
        return None
    for name in ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"):
        raw = env.get(name, "").strip()
        if raw:
            parts = urlsplit(raw)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ConfigError(
                    f"{name}={raw!r} is not an http(s) URL with a host and no query (e.g. https://vpce-...amazonaws.com)"
                )
            return raw.rstrip("/")
    return None


_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read the environment once; ``overrides`` (explicit arguments) win over it."""
    env = os.environ if env is None else env
    environment = env.get("ENVIRONMENT", "").strip() or "production"
    if not _ENVIRONMENT_NAME.match(environment):
        raise ConfigError(f"ENVIRONMENT={environment!r} must be 1-64 characters of letters, digits, . _ -")
    protocol = _protocol(env)
    debug = _bool(env, "OTEL_DEBUG", False)
    exporters = _traces_exporters(env, debug)
    values: dict[str, object] = {
        "environment": environment,
        **_otlp(env, protocol, exporters),
        "otlp_protocol": protocol,
        "otlp_timeout_s": _timeout(env),
        "otlp_compression": _compression(env, protocol),
        "sdk_disabled": env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",  # the SDK's reading
        "traces_exporters": exporters,
        "debug": debug,
        "capture_content": _bool(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", True),
        "max_content_bytes": _number(env, "AGENTCREATOR_MAX_CONTENT_BYTES", 16384, kind=int, minimum=256),
        "max_span_content_bytes": _number(env, "AGENTCREATOR_MAX_SPAN_CONTENT_BYTES", 40960, kind=int, minimum=4096),
        "lm": env.get("AGENTCREATOR_LM", "").strip() or DEFAULT_LM,
        "max_concurrency": _number(env, "AGENTCREATOR_MAX_CONCURRENCY", 64, kind=int, minimum=1),
        "shutdown_grace_s": _number(env, "AGENTCREATOR_SHUTDOWN_GRACE_S", 25.0),
        "workers": _number(env, "AGENTCREATOR_WORKERS", 1, kind=int, minimum=1),
        "lm_timeout_s": _number(env, "AGENTCREATOR_LM_TIMEOUT_S", 120.0, minimum=0.01),
        "lm_retries": _number(env, "AGENTCREATOR_LM_RETRIES", 3, kind=int),
        "lm_retry_max_delay_s": _number(env, "AGENTCREATOR_LM_RETRY_MAX_DELAY_S", 20.0),
        "aws_region": _aws_region(env),
        "bedrock_runtime_endpoint": _bedrock_endpoint(env),
        "canary_interval_s": _canary_interval(env),
    }
    values.update(_metrics(env, str(values["otlp_endpoint_source"])))
    values.update(overrides)
    values.setdefault("span_batch_limits", _span_batch_limits(env, int(values["workers"])))  # type: ignore[call-overload]
    values.setdefault("span_queue_bytes", _span_queue_bytes(env, int(values["workers"])))  # type: ignore[call-overload]
    return Settings(**values)  # type: ignore[arg-type]


def _canary_interval(env: Mapping[str, str]) -> float:
    value = _number(env, "AGENTCREATOR_CANARY_INTERVAL_S", 0.0)
    if 0 < value < 10:
        raise ConfigError(f"AGENTCREATOR_CANARY_INTERVAL_S={value:g} must be 0 (off) or at least 10 seconds")
    return value


def _span_queue_bytes(env: Mapping[str, str], workers: int) -> int:
    """This process's share of the task's span queue memory, as the queue's spans are shared."""
    mib = _number(env, "AGENTCREATOR_SPAN_QUEUE_MIB", SPAN_QUEUE_MIB, minimum=1)
    return int(mib * (1 << 20)) // workers


def _span_batch_limits(env: Mapping[str, str], workers: int) -> dict[str, int]:
    """Small batches, and one queue per task shared by its workers: while the collector is down a
    task holds at most 512 spans, however many workers it runs. Empty when either standard size
    is set: the SDK then reads both itself, with its warn-and-default handling."""
    if any(env.get(name) for name in ("OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")):
        return {}
    batch = SPAN_BATCH_LIMITS["max_export_batch_size"]
    queue = max(batch, SPAN_BATCH_LIMITS["max_queue_size"] // workers)
    return {"max_queue_size": queue, "max_export_batch_size": batch}
